"""Sequence cores and layers. Sequence layers take and return ``(B, L, d_model)``.

- ``ssd``: Mamba-2 structured-state-space-duality scan (naive reference, the paper's four-step
  chunked algorithm, the layer-facing chunked forms, one step); ``ssd_engine``: its CPU engine.
- ``gated_delta_rule``: the gated delta rule (naive reference, chunked WY/UT form, one step).
- ``Mamba2``, ``GatedDeltaNet``: the blocks, with streaming ``state`` / ``step``.
- ``Bidirectional``, ``BiMamba2``, ``BiGatedDeltaNet``: forward + time-reversed passes.
- ``kernels``: lazy dispatch to ``mamba_ssm`` / ``causal_conv1d`` / ``fla`` on CUDA.
"""

from eegssm.nn.bidirectional import Bidirectional, BiGatedDeltaNet, BiMamba2
from eegssm.nn.deltanet import GatedDeltaNet, GatedDeltaNetState
from eegssm.nn.mamba2 import Mamba2, Mamba2State

__all__ = [
    "BiGatedDeltaNet",
    "BiMamba2",
    "Bidirectional",
    "GatedDeltaNet",
    "GatedDeltaNetState",
    "Mamba2",
    "Mamba2State",
]
