"""Sequence cores and layers. Sequence layers take and return ``(B, L, d_model)``.

- ``ssd``: Mamba-2 structured-state-space-duality scan (naive reference, the paper's four-step
  chunked algorithm, the layer-facing chunked forms, one step); ``ssd_engine``: its CPU engine.
- ``gated_delta_rule``: the gated delta rule (naive reference, chunked WY/UT form, one step).
- ``Mamba2``, ``GatedDeltaNet``: the blocks, with streaming ``state`` / ``step``.
- ``Bidirectional``, ``BiMamba2``, ``BiGatedDeltaNet``: forward + time-reversed passes.
- ``kernels``: lazy dispatch to ``mamba_ssm`` / ``causal_conv1d`` / ``fla`` on CUDA.
"""

import importlib

# The layers are imported on first use (PEP 562), so that ``eegssm.nn._scan``, the C kernels,
# can be imported without PyTorch (the PyTorch-free inference path, ``eegssm.engine``).
_LAZY = {
    "Bidirectional": "bidirectional",
    "BiGatedDeltaNet": "bidirectional",
    "BiMamba2": "bidirectional",
    "GatedDeltaNet": "deltanet",
    "GatedDeltaNetState": "deltanet",
    "Mamba2": "mamba2",
    "Mamba2State": "mamba2",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"eegssm.nn.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'eegssm.nn' has no attribute {name!r}")
