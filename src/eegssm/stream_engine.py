"""Live detection without PyTorch: a causal ``SeizureDetector``'s ``forward_stream`` in numpy and C.

:class:`StreamEngine` runs the bundled causal checkpoint (``checkpoints/causal``) piece by piece
as ``SeizureDetector.forward_stream`` does, carrying the same state from piece to piece, with
the kernels of :mod:`eegssm.engine` (the convolutions, the Mamba-2 layer between its
projections, GELU and LayerNorm in C; the products in numpy's BLAS). A streamed chunk is a few
frames (four per second of EEG at 4 Hz): what it costs is the fixed cost of every call, and a
numpy or C call costs a fraction of a PyTorch operator's dispatch.

The maths, in the order of ``SeizureDetector.forward_stream`` (channels-last rows ``(sequences,
steps, features)``; one sequence per electrode):

- front end: each causal convolution runs on its carried tail (the last ``(k-1)·d - (s-1)``
  inputs) followed by the piece, without padding (:func:`eegssm.engine.conv_act`);
- node stream: ``x + out(mamba(LN x))`` per block, the conv tail and SSM state carried
  (:func:`eegssm.engine.mamba_inner`), then LayerNorm;
- edge stream: cosine similarities of every electrode pair per step, buffered until ``pool``
  steps have arrived; a pooled step enters the pairs' SSM stack (state carried) and gives the
  graph of the *next* pooled step (the causal shift), top-``k`` neighbours per node;
- graph: the heat-kernel PE at every ``pe_interval``-th step, projected and held; ``K``
  propagation steps of SSGConv per layer; gated fusion; mean/max readout;
- decoder: the readout shifted by one frame (frame ``j``'s samples see frame ``j - 1``), then
  per stage a nearest ×f upsampling and a causal convolution on its tail, GELU; the final 1×1
  convolution gives the logits.

Equality: pieces fed in order give ``SeizureDetector.forward_stream``'s logits (and so the
offline model's, see :mod:`eegssm.streaming`) to float32 round-off
(``tests/test_stream_engine.py``). As in :mod:`eegssm.engine`, one place can differ by more:
where two edge weights tie to within that round-off, the top-k may keep the other edge for one
pooled step (62 real recordings, 2.08 h, 1-s chunks: one tie, in one recording; probabilities
within 1.9e-4 for 1.4 s, elsewhere to round-off).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eegssm.engine import (
    _linear,
    conv_act,
    conv_weight,
    edge_weights_of,
    expected_shapes,
    gcn_normalize,
    graph_and_fusion,
    heat_kernel_pe,
    layer_norm,
    mamba_inner,
    mamba_layer,
    pair_similarity,
    readout,
    supports,
    topk_adjacency,
)
from eegssm.models.detector_config import CONFIG_NAME, WEIGHTS_NAME


@dataclass
class StreamState:
    """What :meth:`StreamEngine.forward_stream` carries from one piece to the next (all
    float32 arrays; ``C`` electrodes, ``P = C(C-1)/2`` pairs).

    Attributes:
        encoder: per causal conv of the front end, its last inputs ``(C, pad, C_in)``.
        node: per node-stream block, ``(conv tail (C, Dc, k-1), SSM state (C, H, P, N))``.
        edge: the same for the edge stream's blocks (one sequence per pair).
        pending: pair similarities of the incomplete pooled step ``(r, P)``, ``r < pool``.
        adj: the graph in force for that pooled step ``(C, C)``.
        step: frames seen so far (the PE schedule).
        pe: the projected PE in force ``(C, d)``.
        prev: the last readout frame ``(1, D)`` (the decoder's one-frame shift).
        decoder: per decoder stage, its conv's last inputs ``(pad, C_in)``.
    """

    encoder: list
    node: list
    edge: list
    pending: np.ndarray
    adj: np.ndarray
    step: int
    pe: np.ndarray
    prev: np.ndarray
    decoder: list


class StreamEngine:
    """A causal ``SeizureDetector`` checkpoint, piece by piece, in numpy and C.

    Build it with :meth:`from_folder`; call :meth:`forward_stream` on consecutive pieces of a
    preprocessed recording ``(C, n)`` (``n`` a multiple of :attr:`stride`), or use it through
    :class:`eegssm.streaming.StreamingDetector`. Runs on one thread (a piece is a few frames).
    """

    def __init__(self, meta: dict, weights: dict[str, np.ndarray]):
        reason = supports(meta, causal=True)
        if reason is not None:
            raise ValueError(f"the PyTorch-free stream engine does not run this model: {reason}")
        self.meta, self.cfg = meta, meta["config"]
        cfg = self.cfg
        p = self.p = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.stride = math.prod(cfg["stem_strides"]) * cfg["downsample"]
        # front end: (weight, bias, kernel, stride, dilation) per causal conv, in order
        self.convs = []
        for i, s in enumerate(cfg["stem_strides"]):
            w = p[f"encoder.stem.{2 * i}.weight"]
            self.convs.append((conv_weight(w), p[f"encoder.stem.{2 * i}.bias"], 2 * s, s, 1))
        self.blocks = []  # per TCN block: its two convs' indices in self.convs, the residual
        for i, d in enumerate(cfg["tcn_dilations"]):
            pre = f"encoder.tcn.blocks.{i}"
            first = len(self.convs)
            for c in ("conv1", "conv2"):
                w = p[f"{pre}.{c}.weight"]
                self.convs.append((conv_weight(w), p[f"{pre}.{c}.bias"], w.shape[-1], 1, d))
            res = p.get(f"{pre}.res.weight")
            self.blocks.append(
                (first, None if res is None else (conv_weight(res), p[f"{pre}.res.bias"]))
            )
        self.down = (conv_weight(p["encoder.down.weight"]), p["encoder.down.bias"])
        self.node = self._stack("node_stream", cfg["node_layers"], cfg["node_d_state"])
        self.edge = self._stack("edge_stream.ssm", cfg["edge_layers"], cfg["edge_d_state"])
        self.decoder = []
        for i, f in enumerate(cfg["decoder_factors"]):
            w = p[f"decoder.convs.{i}.weight"]
            self.decoder.append((conv_weight(w), p[f"decoder.convs.{i}.bias"], w.shape[-1], f))

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> StreamEngine:
        """From a checkpoint folder, validated as :meth:`eegssm.engine.DetectorEngine.from_folder`
        validates it.

        Raises:
            CheckpointError: a missing, invalid or hostile config, or weights that do not fit.
            ValueError: an architecture this engine does not run (:func:`eegssm.engine.supports`
                with ``causal=True``).
        """
        from safetensors.numpy import load_file

        from eegssm.models.checkpoint_meta import check_detector_meta, check_shapes, read_json
        from eegssm.models.checkpoint_meta import safetensors_shapes as shapes_in

        folder = Path(folder)
        config, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        meta = read_json(config)
        check_detector_meta(meta, config)
        reason = supports(meta, causal=True)
        if reason is not None:
            raise ValueError(f"the PyTorch-free stream engine does not run this model: {reason}")
        check_shapes(expected_shapes(meta), shapes_in(weights), weights, config)
        return cls(meta, load_file(str(weights)))

    def _stack(self, prefix: str, n_layers: int, d_state: int) -> dict:
        """A causal ``SSMStack``: per block its LayerNorm and Mamba-2 layer; the final norm."""
        p = self.p
        blocks = [
            dict(
                ln_w=p[f"{prefix}.{i}.norm.weight"], ln_b=p[f"{prefix}.{i}.norm.bias"],
                layer=mamba_layer(p, f"{prefix}.{i}.mixer", d_state),
            )
            for i in range(n_layers)
        ]  # fmt: skip
        return dict(
            blocks=blocks, final=(p[f"{prefix}.{n_layers}.weight"], p[f"{prefix}.{n_layers}.bias"])
        )

    # -- the state at the start of a recording ----------------------------------------------
    def start(self, n_chans: int) -> StreamState:
        """The state before the first piece of a recording of ``n_chans`` electrodes: zero
        conv tails, SSM states and decoder input, an empty graph, the PE of no graph."""
        cfg, p, C = self.cfg, self.p, n_chans
        P = C * (C - 1) // 2
        encoder = []
        c_in = 1
        for w, _, k, s, d in self.convs:
            encoder.append(np.zeros((C, (k - 1) * d - (s - 1), c_in), np.float32))
            c_in = w.shape[1]
        decoder, c_in = [], cfg["readout_dim"]
        for w, _, k, _ in self.decoder:
            decoder.append(np.zeros((k - 1, c_in), np.float32))
            c_in = w.shape[1]
        pe0 = np.zeros((C, cfg["pe_k"]), np.float32)  # the PE of no graph yet, projected
        return StreamState(
            encoder=encoder, node=[None] * len(self.node["blocks"]),
            edge=[None] * len(self.edge["blocks"]), pending=np.zeros((0, P), np.float32),
            adj=np.zeros((C, C), np.float32), step=0,
            pe=_linear(pe0, p["graph.pe_proj.weight"], p["graph.pe_proj.bias"]),
            prev=np.zeros((1, cfg["readout_dim"]), np.float32), decoder=decoder,
        )  # fmt: skip

    # -- the pieces ----------------------------------------------------------------------------
    def _conv(self, i: int, x: np.ndarray, state: StreamState, gelu: bool) -> np.ndarray:
        """Causal conv ``i`` of the front end on ``x (C, n, C_in)`` after its carried tail."""
        w, b, k, s, d = self.convs[i]
        padded = np.concatenate([state.encoder[i], x], axis=1)
        state.encoder[i] = padded[:, padded.shape[1] - state.encoder[i].shape[1] :]
        return conv_act(padded, w, b, k, s, d, gelu=gelu)

    def encode(self, x: np.ndarray, state: StreamState) -> np.ndarray:
        """Front end: ``x (C, n)`` → electrode features ``(C, n / stride, d)``."""
        h = x[:, :, None]
        n_stem = len(self.cfg["stem_strides"])
        for i in range(n_stem):
            h = self._conv(i, h, state, gelu=True)
        for first, res in self.blocks:
            y = self._conv(first, h, state, gelu=True)
            y = self._conv(first + 1, y, state, gelu=True)
            y += h if res is None else conv_act(h, res[0], res[1], 1)
            h = y
        return conv_act(h, self.down[0], self.down[1], 1)

    def ssm_stack(self, x: np.ndarray, stack: dict, states: list) -> np.ndarray:
        """Causal ``SSMStack`` on the next steps ``x (b, n, d)``, ``states`` (one per block)
        updated in place → ``(b, n, d)``."""
        for i, block in enumerate(stack["blocks"]):
            layer = block["layer"]
            u = layer_norm(np.ascontiguousarray(x), block["ln_w"], block["ln_b"], 1)
            tail, ssm = states[i] if states[i] is not None else (None, None)
            y, tail, ssm = mamba_inner(layer, _linear(u, layer["in_w"].T), False, 1, tail, ssm)
            states[i] = (tail, ssm)
            x = x + _linear(y, layer["out_w"].T)
        w, b = stack["final"]
        return layer_norm(np.ascontiguousarray(x), w, b, 1)

    def edges(self, e: np.ndarray, state: StreamState) -> np.ndarray:
        """Edge stream: electrode features ``e (C, L, d)`` → the graph of each step ``(L, C,
        C)``; a pooled step's graph is used by the pooled step after it."""
        cfg, p = self.cfg, self.p
        C, L, _ = e.shape
        pairs = pair_similarity(np.ascontiguousarray(e.transpose(1, 0, 2)))  # (L, P)
        pool = cfg["edge_pool"]

        def graphs_of(seq: np.ndarray) -> np.ndarray:  # (n, P) → the SSM's graphs (n, C, C)
            w = edge_weights_of(seq.T, p, lambda h: self.ssm_stack(h, self.edge, state.edge))
            return topk_adjacency(np.ascontiguousarray(w.T), C, cfg["top_k"])

        if pool == 1:  # a graph per step, from that step (no shift)
            return graphs_of(pairs)
        buf = np.concatenate([state.pending, pairs])  # starts at a pooled-step boundary
        n_full = len(buf) // pool
        graphs = state.adj[None]
        if n_full:
            adj = graphs_of(buf[: n_full * pool].reshape(n_full, pool, -1).mean(1))
            graphs = np.concatenate([graphs, adj])
            state.adj = adj[-1]
        state.pending = buf[n_full * pool :]
        first = len(buf) - L  # this piece's first step in buf; step t uses graph t // pool
        return graphs[np.arange(first, len(buf)) // pool]

    def fuse(self, h: np.ndarray, adj: np.ndarray, state: StreamState) -> np.ndarray:
        """Graph PE + SSGConv layers + gated fusion: ``h (C, L, d)``, ``adj (L, C, C)`` →
        ``(L, C, d)``."""
        cfg, p = self.cfg, self.p
        L = adj.shape[0]
        interval, start = cfg["pe_interval"], state.step
        x = np.ascontiguousarray(h.transpose(1, 0, 2))  # (L, C, d)
        fresh = [t for t in range(L) if (start + t) % interval == 0]
        table = state.pe[None]
        if fresh:
            pe = _linear(heat_kernel_pe(adj[fresh], cfg["pe_k"]), p["graph.pe_proj.weight"])
            pe += p["graph.pe_proj.bias"]
            table = np.concatenate([table, pe])
            state.pe = pe[-1]
        # step t uses the number of recomputed steps at or before it (0: the PE held before)
        steps = np.arange(start, start + L)
        g = x + table[steps // interval - (start - 1) // interval]
        state.step = start + L
        a_hat = gcn_normalize(adj)  # (L, C, C)
        return graph_and_fusion(x, g, lambda v: a_hat @ v, p, cfg)

    def decode(self, f: np.ndarray, state: StreamState) -> np.ndarray:
        """Readout, the one-frame shift and the decoder: fused ``f (L, C, d)`` → logits
        ``(L·stride,)``."""
        p = self.p
        y = np.concatenate([state.prev, readout(f, p)])  # (1 + L, D)
        state.prev = y[-1:]
        y = y[:-1]  # frame j's samples see frame j - 1
        for i, (w, b, k, f_up) in enumerate(self.decoder):
            padded = np.concatenate([state.decoder[i], np.repeat(y, f_up, axis=0)])
            state.decoder[i] = padded[len(padded) - (k - 1) :]
            y = conv_act(padded[None], w, b, k, gelu=True)[0]
        return y @ p["final_layer.weight"][0, :, 0] + p["final_layer.bias"][0]

    def forward_stream(
        self, x: np.ndarray, state: StreamState | None = None
    ) -> tuple[np.ndarray, StreamState]:
        """``SeizureDetector.forward_stream`` on the next piece ``x (C, n)`` (float32, ``n`` a
        multiple of :attr:`stride`): ``(logits (n,), state)``. ``state`` from the previous
        piece of the same recording (None at its start); it is updated in place and returned.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"expected (C, n) with C >= 2 electrodes, got shape {x.shape}")
        if x.shape[1] % self.stride:
            raise ValueError(f"length {x.shape[1]} is not a multiple of the stride {self.stride}")
        state = state if state is not None else self.start(x.shape[0])
        if x.shape[1] == 0:
            return np.zeros(0, np.float32), state
        e = self.encode(x, state)  # (C, L, d)
        h = self.ssm_stack(e, self.node, state.node)
        adj = self.edges(e, state)
        return self.decode(self.fuse(h, adj, state), state), state
