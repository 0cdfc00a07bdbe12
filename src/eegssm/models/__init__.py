"""Models on ``(B, C, T)`` EEG signals.

- ``eegm2``: ``EEGM2`` U-shaped Mamba-2 reconstruction model (presets ``paper``, ``cpu``), with
  its own Fine classification head when given ``n_outputs`` classes.
- ``eegm2_heads``: ``EEGM2Light``, ``LinearProbe`` heads on a frozen encoder.
- ``masking``: ``mask_spans`` / ``span_mask``, random time spans hidden for masked reconstruction.

Names are imported lazily (``from eegssm.models import EEGM2`` loads only ``eegm2``); a new model
file is exported by adding one line to ``_EXPORTS``.
"""

from __future__ import annotations

import importlib

_EXPORTS: dict[str, tuple[str, ...]] = {
    "eegm2": ("EEGM2", "EEGM2Config", "PRESETS", "ResidualMamba", "count_parameters"),
    "eegm2_heads": ("EEGM2Light", "LinearProbe"),
    "masking": ("mask_spans", "span_mask"),
    "detector": ("DetectorConfig", "SeizureDetector"),
    "baselines": ("SeizureTransformerBaseline",),
}

_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
