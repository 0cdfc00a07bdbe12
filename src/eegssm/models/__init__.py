"""Models on ``(B, C, T)`` EEG signals.

- ``EEGM2``: U-shaped Mamba-2 reconstruction model (presets ``paper``, ``cpu``).
- ``EEGM2Light``, ``EEGM2Fine``, ``LinearProbe``: classification heads on an ``EEGM2``.
- ``mask_spans``: random time spans hidden for masked reconstruction.
"""

from eegssm.models.eegm2 import EEGM2, PRESETS, EEGM2Config, ResidualMamba, count_parameters
from eegssm.models.eegm2_heads import EEGM2Fine, EEGM2Light, LinearProbe
from eegssm.models.masking import mask_spans, span_mask

__all__ = [
    "EEGM2",
    "PRESETS",
    "EEGM2Config",
    "EEGM2Fine",
    "EEGM2Light",
    "LinearProbe",
    "ResidualMamba",
    "count_parameters",
    "mask_spans",
    "span_mask",
]
