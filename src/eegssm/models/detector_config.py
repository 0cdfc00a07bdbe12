"""The architecture of a ``SeizureDetector`` (:class:`DetectorConfig`, its presets), without
PyTorch: the checkpoint checks (:mod:`eegssm.models.checkpoint_meta`) and the PyTorch-free
inference path (:mod:`eegssm.engine`) read it; :mod:`eegssm.models.detector` builds the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Graph positional encodings (``eegssm.nn.graph.graph_pe``).
PE_KINDS = ("laplacian", "heat")
#: Diffusion times of ``heat_kernel_pe``: log-spaced from ``HEAT_T_MIN`` to ``HEAT_T_MAX``. The
#: normalised Laplacian's eigenvalues lie in [0, 2]: t = 0.5 sees the neighbourhood of a node,
#: and t = 50 has decayed every eigenvalue above ~0.1 (what is left: the graph's components and
#: its slowest-mixing cuts).
HEAT_T_MIN, HEAT_T_MAX = 0.5, 50.0

CORES = ("mamba2", "gated_deltanet")
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def encoder_receptive_field(
    stem_strides: tuple[int, ...] | list[int],
    tcn_kernel: int,
    tcn_dilations: tuple[int, ...] | list[int],
    downsample: int,
) -> int:
    """Input samples that one output frame of a ``TCNEncoder`` depends on: each stem layer is a
    kernel-``2s`` stride-``s`` conv, each TCN block two kernel-``k`` convs at its dilation (at
    the stem's total stride), then a kernel-``downsample`` conv."""
    rf, jump = 1, 1
    for s in stem_strides:
        rf += (2 * s - 1) * jump
        jump *= s
    rf += 2 * (tcn_kernel - 1) * sum(tcn_dilations) * jump
    return rf + (downsample - 1) * jump


@dataclass
class DetectorConfig:
    """Architecture of a ``SeizureDetector`` (defaults: the ``fast`` preset).

    Front end: ``per_electrode`` runs the encoder on each electrode separately (input width 1,
    weights shared, output ``d_node``); otherwise the encoder mixes all channels into
    ``front_dim`` features and a Linear projects them to ``n_chans × d_node``.
    Total stride ``S = prod(stem_strides) · downsample`` must equal ``prod(decoder_factors)``.
    ``pe_kind``: ``"heat"`` (heat-kernel signature at ``pe_k`` diffusion times) or
    ``"laplacian"`` (``pe_k`` eigenvectors, as published); ``pe_k = 0`` disables the PE.
    ``graph_layers = 0`` disables the graph stream (and
    the edge stream that feeds it). For ``core="gated_deltanet"`` the key width per head is
    ``d_state`` and there are ``max(1, d_model // d_state)`` heads (value width ``2·d_state``);
    ``headdim`` applies to Mamba-2 only.
    """

    per_electrode: bool = True
    stem_channels: tuple[int, ...] = (16, 32)
    stem_strides: tuple[int, ...] = (8, 8)
    tcn_channels: tuple[int, ...] = (32, 32, 32)
    tcn_kernel: int = 7
    tcn_dilations: tuple[int, ...] = (1, 2, 4)
    downsample: int = 1
    front_dim: int = 512
    d_node: int = 32
    core: str = "mamba2"
    causal: bool = False
    merge: str = "concat"
    node_layers: int = 3
    node_d_state: int = 16
    node_headdim: int = 32
    node_chunk: int = 16
    edge_layers: int = 1
    d_edge: int = 8
    edge_d_state: int = 8
    edge_headdim: int = 8
    edge_chunk: int = 16
    edge_pool: int = 4
    top_k: int = 3
    pe_kind: str = "heat"
    pe_k: int = 16
    pe_interval: int = 5
    graph_layers: int = 2
    graph_K: int = 2
    graph_alpha: float = 0.05
    readout: str = "pool"
    readout_dim: int = 32
    decoder_channels: tuple[int, ...] = (32, 16, 16)
    decoder_factors: tuple[int, ...] = (4, 4, 4)
    decoder_kernel: int = 5
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.core not in CORES:
            raise ValueError(f"core must be one of {CORES}, got {self.core!r}")
        if self.pe_kind not in PE_KINDS:
            raise ValueError(f"pe_kind must be one of {PE_KINDS}, got {self.pe_kind!r}")
        if self.readout not in ("pool", "flatten"):
            raise ValueError(f"readout must be 'pool' or 'flatten', got {self.readout!r}")
        if len(self.decoder_channels) != len(self.decoder_factors):
            raise ValueError("decoder_channels and decoder_factors must have the same length")
        if self.stride != math.prod(self.decoder_factors):
            raise ValueError(
                f"encoder stride {self.stride} != decoder upsampling "
                f"{math.prod(self.decoder_factors)}"
            )

    @property
    def stride(self) -> int:
        """Input samples per feature frame ``S``."""
        return math.prod(self.stem_strides) * self.downsample


PRESETS: dict[str, dict] = {
    "fast": {},
    "bgb-v4": dict(
        per_electrode=False,
        stem_channels=(),
        stem_strides=(),
        tcn_channels=(64, 128, 256, 512, 64, 128, 256, 512),
        tcn_dilations=(1, 2, 4, 8, 16, 32, 64, 128),
        downsample=16,
        front_dim=512,
        d_node=64,
        node_layers=6,
        node_d_state=16,
        node_headdim=8,
        edge_layers=2,
        d_edge=16,
        edge_d_state=8,
        edge_headdim=4,
        edge_pool=1,
        readout="flatten",
        readout_dim=512,
        decoder_channels=(256, 128, 64, 32),
        decoder_factors=(2, 2, 2, 2),
        pe_kind="laplacian",
        dropout=0.15,
    ),
}
