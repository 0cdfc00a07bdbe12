"""Seizure detector: TCN front end → node + edge SSM streams → dynamic graph → per-sample logits.

``x (B, C, W)`` EEG (z-scored, 256 Hz) → logits ``(B, W)``, one per input sample::

    front end    TCNEncoder (stem → dilated TCN → downsample, total stride S)
                 per electrode (shared weights, montage-free)  → e (B, C, L, d),  L = W / S
                 or channel-mixing + Linear to C × d (published) → e (B, C, L, d)
    node stream  SSM blocks over (B·C, L, d), weights shared by all electrodes   → n
    edge stream  cosine similarity of e for the C·(C-1)/2 pairs, per step → SSM over
                 (B·P, L, d_edge) → softplus weight → top-k adjacency          → A (B, L, C, C)
    graph        n + Linear(PE(A), k features per node, recomputed every 5 steps)
                 → SSGConv × layers (residual), dense over all B·L graphs      → g
    fusion       n + σ(W[n; g])·g
    readout      mean + max over electrodes (montage-free) or flatten C·d → (B, D, L)
    decoder      (nearest ×f → conv → GELU) per stage, ×S in total → final_layer → (B, W)

Presets (``SeizureDetector.from_preset``):

- ``"bgb-v4"``: the published Brain-Go-Brr v4 configuration (no stem; TCN 8 blocks, kernel 7,
  dilations 1…128 at 256 Hz; 16× downsampling to (B, 512, 960) for a 60 s window; projection to
  19 × 64; node stream 6 bidirectional layers d_model 64, d_state 16; edge stream 2 layers
  d_model 16, d_state 8; top-k 3; LapPE k 16 every 5 steps; 2 SSGConv layers α 0.05).
  ``pe_kind="laplacian"``: the published eigenvector encoding.
- ``"fast"`` (default): downsamples first (per-electrode stride-64 conv stem → 4 Hz), runs a
  small TCN and the streams at 4 Hz, and keeps per-sample output through a light upsampling
  decoder. Its weights do not depend on the number of electrodes. Its graph PE is the
  heat-kernel signature (``pe_kind="heat"``, ``nn.graph.heat_kernel_pe``), which unlike the
  eigenvectors is a continuous function of the graph (see ``laplacian_pe``).

``core`` selects ``"mamba2"`` or ``"gated_deltanet"`` for both streams. ``causal=True`` uses
unidirectional cores and causal convolutions, and the decoder sees the previous frame (frame
``j - 1`` for samples ``[S·j, S·(j+1))``): the logit at sample ``t`` depends only on input
samples ``< t`` (latency 1…S samples, at most 0.25 s for ``fast`` at 256 Hz). The graph PE
at step ``t`` uses the graph of step ``5·floor(t/5)``, also causal.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.models.detector_config import (  # noqa: F401 - re-exported (defined without torch)
    CONFIG_NAME,
    CORES,
    PRESETS,
    WEIGHTS_NAME,
    DetectorConfig,
)
from eegssm.nn.activation import gelu
from eegssm.nn.bidirectional import Bidirectional
from eegssm.nn.deltanet import GatedDeltaNet
from eegssm.nn.fusion import GatedFusion
from eegssm.nn.graph import (
    SSGConv,
    dynamic_graph_pe,
    dynamic_graph_pe_stream,
    gcn_normalize,
    pair_indices,
    pairs_to_adjacency,
    topk_adjacency,
)
from eegssm.nn.mamba2 import Mamba2
from eegssm.nn.tcn import PaddedConv1d, TCNEncoder, conv1d_channels_last


def make_core(core: str, d_model: int, d_state: int, headdim: int, chunk_size: int) -> nn.Module:
    """One causal sequence layer ``(B, L, d_model)`` → ``(B, L, d_model)``."""
    if core == "mamba2":
        return Mamba2(d_model, d_state=d_state, headdim=headdim, chunk_size=chunk_size)
    if core == "gated_deltanet":
        heads = max(1, d_model // d_state)
        return GatedDeltaNet(d_model, num_heads=heads, head_dim=d_state, chunk_size=chunk_size)
    raise ValueError(f"core must be one of {CORES}, got {core!r}")


class SSMBlock(nn.Module):
    """Pre-norm residual sequence block ``x + mixer(LayerNorm(x))`` on ``(B, L, d)``.

    The mixer is the core run forward only (``causal``) or in both directions (``Bidirectional``).
    """

    def __init__(
        self,
        d_model: int,
        core: str,
        d_state: int,
        headdim: int,
        chunk: int,
        causal: bool,
        merge: str,
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)

        def make() -> nn.Module:
            return make_core(core, d_model, d_state, headdim, chunk)

        self.mixer = make() if causal else Bidirectional(make, merge=merge, d_model=d_model)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.mixer(self.norm(x))

    def forward_stream(self, x: Tensor, state=None) -> tuple[Tensor, object]:
        """Causal block on the next piece ``(B, L, d)``; ``state``: the core's carried state
        (``Mamba2State`` / ``GatedDeltaNetState``, None at the start). Uses the core's own
        ``forward_stream`` where it has one (Mamba-2: a fast path for short pieces)."""
        stream = getattr(self.mixer, "forward_stream", None)
        if stream is not None:
            y, state = stream(self.norm(x), state)
        else:
            y, state = self.mixer(self.norm(x), state, return_state=True)
        return x + y, state


class SSMStack(nn.Sequential):
    """``n_layers`` ``SSMBlock`` s then a LayerNorm: ``(B, L, d)`` → ``(B, L, d)``."""

    def __init__(self, n_layers: int, d_model: int, **block_kwargs) -> None:
        super().__init__(
            *(SSMBlock(d_model, **block_kwargs) for _ in range(n_layers)), nn.LayerNorm(d_model)
        )

    def forward_stream(self, x: Tensor, states: list | None = None) -> tuple[Tensor, list]:
        """Causal stack on the next piece ``(B, L, d)``; ``states``: one per block (or None)."""
        *blocks, norm = self
        states = list(states) if states is not None else [None] * len(blocks)
        for i, block in enumerate(blocks):
            x, states[i] = block.forward_stream(x, states[i])
        return norm(x), states


class EdgeStream(nn.Module):
    """Learned adjacency from the pairwise similarity of electrode features.

    Per time step, the cosine similarity of every electrode pair ``(i < j)`` → (mean over
    ``pool`` steps) → Linear to ``d_edge`` → SSM stack over time for all ``B·P`` pairs in one
    batch → Linear → softplus edge weight → symmetric adjacency → top-k neighbours per node. With
    ``pool > 1`` the graph is held for ``pool`` steps; causal mode then delays it by one pooled
    step (steps ``[p·m, p·(m+1))`` use the graph of steps ``[p·(m-1), p·m)``; the first ``pool``
    steps get an empty graph, i.e. no message passing).

    Shapes: ``e (B, C, L, d)`` → ``adj (B, L, C, C)``.
    """

    def __init__(
        self, d_edge: int, n_layers: int, top_k: int, pool: int = 1, **block_kwargs
    ) -> None:
        super().__init__()
        self.top_k, self.pool, self.causal = top_k, pool, block_kwargs["causal"]
        self.inp = nn.Linear(1, d_edge)
        self.ssm = SSMStack(n_layers, d_edge, **block_kwargs)
        self.out = nn.Linear(d_edge, 1)

    @staticmethod
    def pair_similarity(e: Tensor) -> Tensor:
        """Cosine similarity of every electrode pair per step: ``(B, C, L, d)`` → ``(B, P, L)``."""
        en = F.normalize(e, dim=-1)
        sim = torch.einsum("bild,bjld->blij", en, en)  # (B, L, C, C)
        i, j = pair_indices(e.shape[1], e.device)
        return sim[..., i, j].transpose(1, 2)

    def forward(self, e: Tensor) -> Tensor:
        B, C, L, _ = e.shape
        pairs = self.pair_similarity(e)  # (B, P, L)
        B, P, _ = pairs.shape
        if self.pool > 1:
            pairs = F.avg_pool1d(pairs, self.pool, ceil_mode=True)  # (B, P, ceil(L / pool))
        Lp = pairs.shape[-1]
        h = self.inp(pairs.reshape(B * P, Lp, 1))
        w = F.softplus(self.out(self.ssm(h))).reshape(B, P, Lp)
        if self.causal and self.pool > 1:
            w = F.pad(w, (1, 0))[..., :-1]
        adj = topk_adjacency(pairs_to_adjacency(w.transpose(1, 2), C), self.top_k)
        if self.pool > 1:  # one graph per pooled step, held for its ``pool`` steps
            adj = adj.repeat_interleave(self.pool, dim=1)[:, :L]
        return adj

    def forward_stream(self, e: Tensor, state: tuple | None = None) -> tuple[Tensor, tuple]:
        """Causal adjacency for the next ``L`` steps ``e (B, C, L, d)`` → ``(B, L, C, C)``.

        ``state = (ssm_states, pending, w, adj)``: the SSM stack's states, the pair
        similarities of the steps of the current, incomplete pooled step ``(B, P, r)``
        (``r < pool``), and the edge weights ``(B, P, 1)`` in force for it (those of the
        previous pooled step; zeros for the first) with their top-k adjacency ``(B, 1, C, C)``.
        A pooled step enters the SSM once its ``pool`` steps have arrived; its graph is built
        once and held for the ``pool`` steps that use it.
        """
        if not self.causal:
            raise ValueError("forward_stream needs a causal edge stream")
        B, C, L, _ = e.shape
        pairs = self.pair_similarity(e)  # (B, P, L)
        P = pairs.shape[1]
        if state is None:
            w0 = pairs.new_zeros(B, P, 1)
            state = (None, pairs.new_zeros(B, P, 0), w0, self.adjacency(w0, C))
        ssm_states, pending, w_prev, adj_prev = state

        def weights(seq: Tensor) -> Tensor:  # (B, P, n) → softplus edge weights (B, P, n)
            nonlocal ssm_states
            h, ssm_states = self.ssm.forward_stream(self.inp(seq.reshape(B * P, -1, 1)), ssm_states)
            return F.softplus(self.out(h)).reshape(B, P, -1)

        if self.pool == 1:
            return self.adjacency(weights(pairs), C), (ssm_states, pending, w_prev, adj_prev)
        # buf starts at a pooled-step boundary; its step i uses graph i // pool of
        # [the graph in force, the graphs of the pooled steps completed in buf]
        buf = torch.cat([pending, pairs], dim=-1)
        n_full = buf.shape[-1] // self.pool
        graphs = adj_prev
        if n_full:
            pooled = buf[..., : n_full * self.pool].reshape(B, P, n_full, self.pool).mean(-1)
            w = weights(pooled)  # (B, P, n_full)
            graphs = torch.cat([adj_prev, self.adjacency(w, C)], dim=1)
            w_prev, adj_prev = w[..., -1:], graphs[:, -1:]
        first = buf.shape[-1] - L  # index in buf of this piece's first step
        if first // self.pool == (buf.shape[-1] - 1) // self.pool:  # one graph for the piece
            g = first // self.pool
            adj = graphs[:, g : g + 1].expand(B, L, C, C)
        else:
            adj = graphs.repeat_interleave(self.pool, dim=1)[:, first : buf.shape[-1]]
        return adj, (ssm_states, buf[..., n_full * self.pool :], w_prev, adj_prev)

    def adjacency(self, w: Tensor, n_nodes: int) -> Tensor:
        """Top-k adjacency of pair weights: ``(B, P, n)`` → ``(B, n, C, C)``."""
        return topk_adjacency(pairs_to_adjacency(w.transpose(1, 2), n_nodes), self.top_k)


class GraphStream(nn.Module):
    """Graph PE + residual SSGConv layers over every (batch, step) graph at once.

    Shapes: ``x (B, C, L, d)``, ``adj (B, L, C, C)`` → ``(B, C, L, d)``.
    """

    def __init__(
        self,
        d: int,
        n_layers: int,
        K: int,
        alpha: float,
        pe_k: int,
        pe_interval: int,
        pe_kind: str = "heat",
    ):
        super().__init__()
        self.pe_k, self.pe_interval, self.pe_kind = pe_k, pe_interval, pe_kind
        self.pe_proj = nn.Linear(pe_k, d) if pe_k > 0 else None
        self.convs = nn.ModuleList(SSGConv(d, d, alpha, K) for _ in range(n_layers))

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        h = x.transpose(1, 2)  # (B, L, C, d)
        if self.pe_proj is not None:  # projected at the recomputed steps, then held
            h = h + dynamic_graph_pe(
                adj, self.pe_k, self.pe_interval, self.pe_kind, project=self.pe_proj
            )
        a_hat = gcn_normalize(adj)  # one normalisation for all layers
        for conv in self.convs:
            h = h + gelu(conv(h, a_hat, normalized=True))
        return h.transpose(1, 2)

    def forward_stream(
        self, x: Tensor, adj: Tensor, state: tuple | None = None
    ) -> tuple[Tensor, tuple]:
        """``forward`` on the next steps; ``state = (step index, projected PE in force
        (B, C, d))``: the PE is projected when it is recomputed, then held (as ``forward``)."""
        step, last = state if state is not None else (0, None)
        h = x.transpose(1, 2)  # (B, L, C, d)
        if self.pe_proj is not None:
            pe, last = dynamic_graph_pe_stream(
                adj, step, last, self.pe_k, self.pe_interval, self.pe_kind, project=self.pe_proj
            )
            h = h + pe
        a_hat = gcn_normalize(adj)
        for conv in self.convs:
            h = h + gelu(conv(h, a_hat, normalized=True))
        return h.transpose(1, 2), (step + adj.shape[1], last)


class UpsampleDecoder(nn.Module):
    """Per stage: nearest-neighbour ×f → conv (kernel k, centred or causal) → GELU.

    Shapes: ``(B, D, L)`` → ``(B, channels[-1], L · prod(factors))``.
    """

    def __init__(
        self, in_channels: int, channels: tuple, factors: tuple, kernel: int, causal: bool
    ) -> None:
        super().__init__()
        ins = (in_channels, *channels[:-1])
        self.factors = tuple(factors)
        self.convs = nn.ModuleList(
            PaddedConv1d(i, o, kernel, causal=causal) for i, o in zip(ins, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        for f, conv in zip(self.factors, self.convs):
            x = gelu(conv(x.repeat_interleave(f, dim=-1)))
        return x

    def forward_stream(self, x: Tensor, tails: list | None = None) -> tuple[Tensor, list]:
        """Causal decoder on the next frames ``(B, D, L)``; ``tails``: one conv tail per stage.

        Runs channels-last (tails ``(B, pad, C)``, each conv of a short piece one GEMM); the
        result is a transposed view of a ``(B, L · prod(factors), channels[-1])`` tensor."""
        tails = list(tails) if tails is not None else [None] * len(self.convs)
        h = x.transpose(1, 2)  # (B, L, D)
        for i, (f, conv) in enumerate(zip(self.factors, self.convs)):
            h, tails[i] = conv.forward_stream(h.repeat_interleave(f, dim=1), tails[i], True)
            h = gelu(h)
        return h.transpose(1, 2), tails


class SeizureDetector(nn.Module):
    """Per-sample seizure logits from multichannel EEG.

    Args:
        n_chans: electrodes ``C``. With ``config.per_electrode`` (the ``fast`` preset) the weights
            do not depend on it and any ``C >= 2`` is accepted in ``forward``; otherwise the
            input must have exactly ``n_chans`` channels.
        n_times: window length ``W`` in samples (optional, informational; any length works,
            inputs are zero-padded to a multiple of the stride internally).
        sfreq: sampling rate in Hz the model is meant for (the presets assume 256 Hz).
        config: the architecture (default: ``fast``).

    Forward: ``x (B, C, W)`` → logits ``(B, W)``.
    """

    def __init__(
        self,
        n_chans: int = 19,
        n_times: int | None = None,
        sfreq: float = 256.0,
        config: DetectorConfig | None = None,
    ) -> None:
        super().__init__()
        cfg = config or DetectorConfig()
        self.n_chans, self.n_times, self.sfreq, self.config = n_chans, n_times, float(sfreq), cfg
        d = cfg.d_node
        self.encoder = TCNEncoder(
            1 if cfg.per_electrode else n_chans,
            d if cfg.per_electrode else cfg.front_dim,
            cfg.tcn_channels,
            cfg.tcn_kernel,
            cfg.tcn_dilations,
            cfg.stem_channels,
            cfg.stem_strides,
            cfg.downsample,
            cfg.causal,
            cfg.dropout,
        )
        self.to_electrodes = None if cfg.per_electrode else nn.Linear(cfg.front_dim, n_chans * d)
        block = dict(core=cfg.core, causal=cfg.causal, merge=cfg.merge)
        self.node_stream = SSMStack(
            cfg.node_layers,
            d,
            d_state=cfg.node_d_state,
            headdim=cfg.node_headdim,
            chunk=cfg.node_chunk,
            **block,
        )
        self.edge_stream = self.graph = self.fusion = None
        if cfg.graph_layers > 0:
            self.edge_stream = EdgeStream(
                cfg.d_edge,
                cfg.edge_layers,
                cfg.top_k,
                cfg.edge_pool,
                d_state=cfg.edge_d_state,
                headdim=cfg.edge_headdim,
                chunk=cfg.edge_chunk,
                **block,
            )
            self.graph = GraphStream(
                d,
                cfg.graph_layers,
                cfg.graph_K,
                cfg.graph_alpha,
                cfg.pe_k,
                cfg.pe_interval,
                cfg.pe_kind,
            )
            self.fusion = GatedFusion(d)
        readout_in = 2 * d if cfg.readout == "pool" else n_chans * d
        self.readout = nn.Linear(readout_in, cfg.readout_dim)
        self.decoder = UpsampleDecoder(
            cfg.readout_dim,
            cfg.decoder_channels,
            cfg.decoder_factors,
            cfg.decoder_kernel,
            cfg.causal,
        )
        self.final_layer = nn.Conv1d(cfg.decoder_channels[-1], 1, 1)

    # ----------------------------------------------------------------------------------------
    @classmethod
    def from_preset(
        cls,
        name: str = "fast",
        n_chans: int = 19,
        n_times: int | None = None,
        sfreq: float = 256.0,
        core: str = "mamba2",
        causal: bool = False,
        **overrides,
    ) -> SeizureDetector:
        """Build a preset (``"fast"`` or ``"bgb-v4"``); ``overrides`` replace config fields."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
        config = DetectorConfig(**{**PRESETS[name], "core": core, "causal": causal, **overrides})
        return cls(n_chans=n_chans, n_times=n_times, sfreq=sfreq, config=config)

    def electrode_features(self, x: Tensor, encode=None) -> Tensor:
        """Front end: ``x (B, C, W)``, ``W`` a multiple of the stride → ``(B, C, L, d_node)``.

        ``encode`` replaces ``self.encoder`` (the streaming path passes its stateful call).
        """
        encode = encode or self.encoder
        B, C, W = x.shape
        if self.config.per_electrode:
            e = encode(x.reshape(B * C, 1, W))  # (B·C, d, L)
            return e.reshape(B, C, *e.shape[1:]).transpose(2, 3)
        if C != self.n_chans:
            raise ValueError(f"expected {self.n_chans} channels, got {C}")
        f = encode(x).transpose(1, 2)  # (B, L, front_dim)
        return self.to_electrodes(f).reshape(B, f.shape[1], C, -1).transpose(1, 2)

    def node_features(self, e: Tensor) -> Tensor:
        """Node stream, one batch of all electrodes: ``(B, C, L, d)`` → ``(B, C, L, d)``."""
        B, C, L, d = e.shape
        return self.node_stream(e.reshape(B * C, L, d)).reshape(B, C, L, d)

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, C, W)`` → per-sample logits ``(B, W)``."""
        if x.dim() != 3:
            raise ValueError(f"expected (B, C, W), got shape {tuple(x.shape)}")
        B, C, W = x.shape
        S = self.config.stride
        if W % S:  # (F.pad copies even when there is nothing to pad)
            x = F.pad(x, (0, (-W) % S))
        e = self.electrode_features(x)  # (B, C, L, d)
        h = self.node_features(e)
        if self.graph is not None:
            adj = self.edge_stream(e)  # (B, L, C, C)
            h = self.fusion(h, self.graph(h, adj))
        z = self.read_out(h)  # (B, D, L)
        if self.config.causal:  # samples of frame j see frame j - 1 (strictly causal)
            z = F.pad(z, (1, 0))[..., :-1]
        return self.final_layer(self.decoder(z)).squeeze(1)[:, :W]

    def read_out(self, h: Tensor) -> Tensor:
        """Fused node features ``(B, C, L, d)`` → decoder input ``(B, D, L)``."""
        if self.config.readout == "pool":
            z = torch.cat([h.mean(1), h.amax(1)], dim=-1)  # (B, L, 2d)
        else:
            z = h.transpose(1, 2).reshape(h.shape[0], h.shape[2], -1)  # (B, L, C·d)
        return gelu(self.readout(z)).transpose(1, 2)

    def forward_stream(self, x: Tensor, state: dict | None = None) -> tuple[Tensor, dict]:
        """Causal model on the next piece of a recording, carrying every piece of state.

        Args:
            x: ``(B, C, n)``, ``n`` a multiple of the stride ``S`` (whole frames).
            state: returned by the previous call on the same recordings, or None at their
                start. Keys: ``encoder`` (conv tails), ``node`` / ``edge`` / ``graph`` (SSM
                states, pooled-graph buffer, PE step counter and PE in force), ``prev`` (the
                last readout frame, for the decoder's one-frame shift) and ``decoder`` (tails).

        Returns:
            ``(logits (B, n), new_state)``. Feeding a recording in pieces gives, piece by
            piece, ``forward`` on the whole recording (up to float round-off); past frames are
            never recomputed. Requires ``config.causal`` and eval mode for exactness (dropout).
        """
        if not self.config.causal:
            raise ValueError("forward_stream needs a causal model (config.causal=True)")
        B, C, n = x.shape
        if n % self.config.stride:
            raise ValueError(f"length {n} is not a multiple of the stride {self.config.stride}")
        old = state or {}
        new: dict = {}

        def encode(inp: Tensor) -> Tensor:
            out, new["encoder"] = self.encoder.forward_stream(inp, old.get("encoder"))
            return out

        e = self.electrode_features(x, encode)  # (B, C, L, d)
        L, d = e.shape[2], e.shape[3]
        h, new["node"] = self.node_stream.forward_stream(e.reshape(B * C, L, d), old.get("node"))
        h = h.reshape(B, C, L, d)
        if self.graph is not None:
            adj, new["edge"] = self.edge_stream.forward_stream(e, old.get("edge"))
            g, new["graph"] = self.graph.forward_stream(h, adj, old.get("graph"))
            h = self.fusion(h, g)
        z = self.read_out(h)  # (B, D, L)
        prev = old.get("prev")
        z = torch.cat([z.new_zeros(*z.shape[:2], 1) if prev is None else prev, z], dim=-1)
        new["prev"] = z[..., -1:]
        y, new["decoder"] = self.decoder.forward_stream(z[..., :-1], old.get("decoder"))
        return conv1d_channels_last(y.transpose(1, 2), self.final_layer)[..., 0], new

    # ----------------------------------------------------------------------------------------
    def architecture_meta(self) -> dict:
        """The ``config.json`` fields :meth:`from_pretrained` builds the model from: class name,
        ``n_chans``, ``n_times``, ``sfreq`` and the :class:`DetectorConfig`."""
        return {
            "model": type(self).__name__,
            "n_chans": self.n_chans,
            "n_times": self.n_times,
            "sfreq": self.sfreq,
            "config": asdict(self.config),
        }

    def input_spec(self):
        """The input this model takes, as far as the model alone knows it (channel count, rate,
        window; no montage or channel names): :class:`eegssm.contract.InputSpec`."""
        from eegssm.contract import InputSpec

        window_s = (self.n_times or 60 * self.sfreq) / self.sfreq
        return InputSpec(n_chans=self.n_chans, sfreq=self.sfreq, window_s=window_s)

    def save_pretrained(self, path: str | os.PathLike, metadata: dict | None = None) -> Path:
        """Write ``config.json``, ``model.safetensors`` and a model card ``README.md`` into the
        folder ``path`` (the Hugging Face Hub layout: upload the folder as it is).

        Args:
            path: the folder (created if missing).
            metadata: more ``config.json`` content (preprocessing, operating points, ``input``
                with montage and channel names...); a partial ``input`` is completed from the
                rest (:meth:`eegssm.contract.InputSpec.from_meta`). Without it ``input``
                records only the channel count, rate and window, and such a checkpoint runs
                only on recordings that give exactly ``n_chans`` channels.

        Each file is written to a temporary file in the same folder and moved into place with
        ``os.replace`` through ``eegssm.atomic`` (a reader never sees a half-written file); the
        two appear together or not at all.
        """
        from safetensors.torch import save as safetensors_bytes

        from eegssm import __version__, atomic
        from eegssm.contract import InputSpec
        from eegssm.hub import write_model_card

        path = Path(path)
        meta = {
            **self.architecture_meta(),
            "input": self.input_spec().to_json(),
            "eegssm_version": __version__,
            **(metadata or {}),
        }
        if metadata and ("input" in metadata or "preprocess" in metadata):
            given = {**meta, "input": metadata.get("input") or {}}  # completed from the rest
            meta["input"] = InputSpec.from_meta(given).to_json()
        state = {k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        with atomic.together():  # both files or neither; a full disk is an OSError
            atomic.write_bytes(path / WEIGHTS_NAME, safetensors_bytes(state))
            atomic.write_text(path / CONFIG_NAME, json.dumps(meta, indent=2))
        write_model_card(path, meta)
        return path

    @classmethod
    def from_pretrained(
        cls,
        path_or_repo_id: str | os.PathLike,
        device: str | torch.device = "cpu",
        revision: str | None = None,
    ):
        """Load a model written by ``save_pretrained``: a local folder, or a Hugging Face Hub
        repository id (``owner/name``; needs the optional ``huggingface_hub`` package).

        The config is validated (types, ranges) and the model it describes is compared with the
        weights file's tensor shapes before the model is built
        (:mod:`eegssm.models.checkpoint_meta`).

        Raises:
            CheckpointError: a missing, invalid or hostile config, or weights that do not fit.
        """
        from eegssm.hub import resolve_checkpoint
        from eegssm.models.checkpoint_meta import check_detector_meta, check_weights_fit
        from eegssm.train.checkpoint import load_weights, read_json

        path = resolve_checkpoint(path_or_repo_id, revision)
        meta = read_json(path / CONFIG_NAME)
        check_detector_meta(meta, path / CONFIG_NAME)
        names = {f.name for f in fields(DetectorConfig)}
        cfg = {k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()}
        cfg.setdefault("pe_kind", "laplacian")  # saved before pe_kind existed: eigenvectors
        config = replace(DetectorConfig(), **{k: v for k, v in cfg.items() if k in names})

        def build() -> SeizureDetector:
            return cls(meta["n_chans"], meta["n_times"], meta["sfreq"], config)

        check_weights_fit(build, path / WEIGHTS_NAME, path / CONFIG_NAME)
        model = build()
        load_weights(path / WEIGHTS_NAME, model)
        return model.to(device)
