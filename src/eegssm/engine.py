"""The seizure detector's forward pass for CPU inference without PyTorch: numpy and C.

``eegssm detect`` spends most of a one-hour recording's time outside the model: importing
PyTorch alone takes 1.4-2 s on a 2-core machine, as long as the model itself. This module runs
the same forward pass as :class:`eegssm.models.detector.SeizureDetector` on a whole recording
with numpy (its BLAS for the matrix products), the C kernels of :mod:`eegssm.nn._scan` (the
Mamba-2 layer between its projections, GELU, LayerNorm) and LAPACK for the graphs' spectra, from
the checkpoint's ``config.json`` and ``model.safetensors``; nothing here imports PyTorch.

A recording too long to hold in memory arrives block by block (:meth:`DetectorEngine.
logits_blocks`): the front end runs chunk by chunk with a halo, the electrode features go to a
temporary file, and each stage then runs over the whole recording as above, with the same
result as on the whole recording at once.

It covers the architectures of the bundled checkpoint (:func:`supports`): per-electrode front
end, Mamba-2 cores, both directions (``causal: false``), ``concat`` merge, heat-kernel graph
PE, pooled readout. Everything else, and training, goes through the PyTorch model, which stays
the reference: ``tests/test_engine.py`` checks this against it on random weights and inputs
(odd lengths, flat electrodes, ties in the graph's top-k) and on the bundled checkpoint, to
float32 round-off (the same sums in other orders: BLAS instead of oneDNN, folded weights).
One place can differ by more: where two edge weights are equal to within that round-off, the
top-k may keep the other edge, for one pooled step (on 62 real recordings, 2.08 h: one second
of one recording, probabilities within 9e-5, the same events).

The maths, layer by layer, in the order of ``SeizureDetector.forward``; signals are
channels-last rows ``(sequences, steps, features)`` throughout (weights are transposed once,
at load time):

- front end (``TCNEncoder``): a C kernel (:func:`conv_act`: tiles of rows × 16 channels in
  registers, the padding and the GELU in the same pass), because its convolutions are GEMMs
  too narrow for BLAS (the first stem layer has one input channel, the others ``C_out`` 16-32);
  every output but the last ``x·Φ(x)``;
- node stream (``SSMStack``): ``x + proj[fwd(LN x); flip(bwd(flip LN x))]`` per block, the
  backward direction read in reverse by the C layer (negative strides, no copy), each
  direction's output projection folded into the merge (one ``(d_inner → d)`` matrix each);
- edge stream: cosine similarity of every electrode pair per step, mean over ``pool`` steps,
  an SSM stack over the pairs' sequences, softplus weights, top-``k`` neighbours per node;
- graph: heat-kernel PE every ``pe_interval`` steps (``eigh`` of the normalised Laplacian),
  ``K`` propagation steps of SSGConv per layer, one product per pooled graph for its steps;
- gated fusion, mean/max readout over electrodes, then the decoder: a nearest ×f upsampling
  followed by a centred conv is a conv of the low-rate input with ``f`` output phases
  (:func:`upsample_conv_rows`), never the upsampled signal.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from eegssm.models.detector_config import (
    CONFIG_NAME,
    HEAT_T_MAX,
    HEAT_T_MIN,
    WEIGHTS_NAME,
    encoder_receptive_field,
)

#: Steps per stretch of the per-step stages (edge similarity, graph, readout, decoder): a
#: stretch's temporaries (``steps × electrodes × features``) stay within the caches.
CHUNK_STEPS = 720

#: Bytes of SSM input per group of edge-stream sequences (:meth:`DetectorEngine.pair_weights`):
#: a day's pairs are 0.4 GB, and each group's layer needs a few times its input meanwhile.
GROUP_BYTES = 16 << 20

#: Steps per piece of an SSM layer's sequences (:meth:`DetectorEngine.ssm_stack`).
SSM_STEPS = 2048

#: Frames per chunk of a recording run block by block (:meth:`DetectorEngine.logits_blocks`;
#: 7200 frames = 30 min at the bundled model's 4 Hz).
BLOCK_FRAMES = 7200

#: Frame-rate intermediates of a recording run block by block are kept in memory up to this
#: many bytes, else in a temporary file (an hour of electrode features: 33 MB, a day 0.8 GB).
MEMORY_BYTES = 128 << 20

LN_EPS = 1e-5  # nn.LayerNorm's default
PE_JITTER = 1e-6  # eegssm.nn.graph.heat_kernel_pe


def supports(meta: dict, causal: bool = False) -> str | None:
    """Why this engine cannot run the model of a checkpoint's ``config.json`` ``meta``, or None
    when it can (the bundled checkpoint's architecture; with ``causal``, the bundled causal
    checkpoint's, for :class:`eegssm.stream_engine.StreamEngine`)."""
    if meta.get("model", "SeizureDetector") != "SeizureDetector":
        return f"model {meta.get('model')!r}"
    cfg = meta.get("config", {})
    wanted = {
        "core": "mamba2", "causal": causal, "per_electrode": True, "readout": "pool",
        "pe_kind": "heat", "downsample": 1,
    }  # fmt: skip
    if not causal:  # the two directions' outputs concatenated, then projected
        wanted["merge"] = "concat"
    for key, value in wanted.items():
        if cfg.get(key) != value:
            return f"config {key}={cfg.get(key)!r} (the engine runs {key}={value!r})"
    if cfg.get("graph_layers", 0) < 1 or cfg.get("pe_k", 0) < 1:
        return "no graph stream or no graph PE"
    if len(cfg.get("stem_channels", ())) < 1:
        return "no stem"
    return None


def unavailable() -> str | None:
    """Why the engine's C kernels cannot run here (not built, or turned off with
    ``EEGSSM_DISABLE_KERNELS=1``), or None when they can."""
    if os.environ.get("EEGSSM_DISABLE_KERNELS") == "1":
        return "EEGSSM_DISABLE_KERNELS=1"
    try:
        _kernels()
    except ImportError as err:
        return f"the C extension eegssm.nn._scan is not built ({err})"
    return None


def expected_shapes(meta: dict) -> dict[str, tuple[int, ...]]:
    """The weights (names and shapes, as ``SeizureDetector.state_dict`` has them) of the model
    a checkpoint's ``config.json`` describes, for an architecture :func:`supports` accepts.
    Mamba-2 layers with their defaults (``expand`` 2, ``d_conv`` 4, one group, no projection
    biases), as the detector builds them."""
    cfg = meta["config"]
    d = cfg["d_node"]
    out: dict[str, tuple[int, ...]] = {}

    def conv(name: str, c_out: int, c_in: int, k: int) -> None:
        out[f"{name}.weight"], out[f"{name}.bias"] = (c_out, c_in, k), (c_out,)

    def linear(name: str, d_out: int, d_in: int) -> None:
        out[f"{name}.weight"], out[f"{name}.bias"] = (d_out, d_in), (d_out,)

    def stack(prefix: str, n_layers: int, width: int, d_state: int, headdim: int) -> None:
        d_inner = 2 * width
        heads, conv_dim = d_inner // headdim, d_inner + 2 * d_state
        sides = [""] if cfg.get("causal") else [".forward_layer", ".backward_layer"]
        for i in range(n_layers):
            out[f"{prefix}.{i}.norm.weight"] = out[f"{prefix}.{i}.norm.bias"] = (width,)
            for side in sides:
                m = f"{prefix}.{i}.mixer{side}"
                out[f"{m}.in_proj.weight"] = (d_inner + conv_dim + heads, width)
                conv(f"{m}.conv1d.conv", conv_dim, 1, 4)
                for name in ("dt_bias", "A_log", "D"):
                    out[f"{m}.{name}"] = (heads,)
                out[f"{m}.norm.weight"] = (d_inner,)
                out[f"{m}.out_proj.weight"] = (width, d_inner)
            if not cfg.get("causal"):
                linear(f"{prefix}.{i}.mixer.proj", width, 2 * width)
        out[f"{prefix}.{n_layers}.weight"] = out[f"{prefix}.{n_layers}.bias"] = (width,)

    c = 1
    for i, (width, s) in enumerate(zip(cfg["stem_channels"], cfg["stem_strides"])):
        conv(f"encoder.stem.{2 * i}", width, c, 2 * s)
        c = width
    for i, width in enumerate(cfg["tcn_channels"]):
        block = f"encoder.tcn.blocks.{i}"
        conv(f"{block}.conv1", width, c, cfg["tcn_kernel"])
        conv(f"{block}.conv2", width, width, cfg["tcn_kernel"])
        if c != width:
            conv(f"{block}.res", width, c, 1)
        c = width
    conv("encoder.down", d, c, cfg["downsample"])
    stack("node_stream", cfg["node_layers"], d, cfg["node_d_state"], cfg["node_headdim"])
    e = cfg["d_edge"]
    linear("edge_stream.inp", e, 1)
    stack("edge_stream.ssm", cfg["edge_layers"], e, cfg["edge_d_state"], cfg["edge_headdim"])
    linear("edge_stream.out", 1, e)
    linear("graph.pe_proj", d, cfg["pe_k"])
    for i in range(cfg["graph_layers"]):
        linear(f"graph.convs.{i}.lin", d, d)
    linear("fusion.gate", d, 2 * d)
    linear("readout", cfg["readout_dim"], 2 * d)
    c = cfg["readout_dim"]
    for i, width in enumerate(cfg["decoder_channels"]):
        conv(f"decoder.convs.{i}", width, c, cfg["decoder_kernel"])
        c = width
    conv("final_layer", 1, c, 1)
    return out


def _kernels():
    from eegssm.nn import _scan

    return _scan


def default_threads() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------------------------------
# Row-wise operations (C) and convolutions as GEMMs


def _ptr(a: np.ndarray | None) -> int:
    return 0 if a is None else a.__array_interface__["data"][0]


def gelu_(x: np.ndarray, threads: int) -> np.ndarray:
    """Exact GELU ``x·Φ(x)`` of a C-contiguous float32 array, in place; returns ``x``."""
    assert x.dtype == np.float32 and x.flags.c_contiguous
    d = x.shape[-1] if x.ndim else 1
    _kernels().gelu((_ptr(x), _ptr(x)), (x.size // max(d, 1), d), threads)
    return x


def conv_act(
    x: np.ndarray,
    w: np.ndarray,
    b: np.ndarray | None,
    k: int,
    stride: int = 1,
    dilation: int = 1,
    left: int = 0,
    right: int = 0,
    gelu: bool = False,
    threads: int = 1,
) -> np.ndarray:
    """``F.conv1d(F.pad(x, (left, right)), ...)``, then GELU if ``gelu``, on channels-last rows,
    in C: tiles of output rows × 16 channels in registers, no padded copy and no tap matrix
    (the front end's convolutions are GEMMs with ``N = C_out = 32``, narrow for BLAS).

    Args:
        x: ``(n, L, C_in)`` float32.
        w: ``(k·C_in, C_out)`` from :func:`conv_weight`; bias ``(C_out,)`` or None.

    Returns:
        ``(n, L_out, C_out)``, ``L_out = (L + left + right - (k-1)·dilation - 1) // stride + 1``.
    """
    x = np.ascontiguousarray(x, np.float32)
    n, L, c_in = x.shape
    n_out = max(0, (L + left + right - (k - 1) * dilation - 1) // stride + 1)
    out = np.empty((n, n_out, w.shape[1]), np.float32)
    sizes = (n, L, n_out, k, stride, dilation, left, c_in, w.shape[1])
    _kernels().conv_gelu((_ptr(x), _ptr(w), _ptr(b), _ptr(out)), sizes, gelu, threads)
    return out


def layer_norm(
    x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, threads: int, eps: float = LN_EPS
) -> np.ndarray:
    """``nn.LayerNorm`` over the last dimension of a C-contiguous float32 ``x``: a new array."""
    assert x.dtype == np.float32 and x.flags.c_contiguous
    out = np.empty_like(x)
    d = x.shape[-1]
    _kernels().layer_norm((_ptr(x), _ptr(w), _ptr(b), _ptr(out)), (x.size // d, d), eps, threads)
    return out


def _sigmoid_(z: np.ndarray) -> np.ndarray:
    """``σ(z) = (1 + tanh(z / 2)) / 2`` of float32 ``z``, in place; returns ``z``."""
    z *= 0.5
    np.tanh(z, out=z)
    z += 1.0
    z *= 0.5
    return z


def _linear(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``F.linear(x, w, bias)`` over the last dimension of ``x (..., d_in)`` as one GEMM
    (numpy would run one small product per leading index): ``(..., d_out)`` float32."""
    y = x.reshape(-1, x.shape[-1]) @ w.T
    if bias is not None:
        y += bias
    return y.reshape(*x.shape[:-1], w.shape[0])


def conv_weight(w: np.ndarray) -> np.ndarray:
    """``nn.Conv1d`` weight ``(C_out, C_in, k)`` → the GEMM's ``(k·C_in, C_out)`` (tap-major
    rows, the order of :func:`conv_act`'s taps)."""
    c_out, c_in, k = w.shape
    return np.ascontiguousarray(w.transpose(2, 1, 0).reshape(k * c_in, c_out))


def upsample_conv_weight(w: np.ndarray, factor: int, left: int) -> tuple[np.ndarray, int, int]:
    """A nearest ×``factor`` upsampling followed by ``conv`` (weight ``(C_out, C_in, k)``,
    ``left`` zeros of padding before the upsampled signal) as one convolution of the low-rate
    signal with ``factor`` output phases.

    Upsampled sample ``n`` is low-rate sample ``n // f``; output ``f·m + r`` sums tap ``j`` at
    upsampled ``f·m + r + j - left``, i.e. low-rate ``m + (r + j - left) // f``. Grouping the
    taps by that offset gives, per phase ``r``, a small convolution of the low-rate signal.

    Returns:
        ``(W (span·C_in, f·C_out), lo, span)``: low-rate offsets ``lo … lo + span - 1``; the
        output ``(n, L, f, C_out)`` is the GEMM of the taps at those offsets.
    """
    c_out, c_in, k = w.shape
    offsets = [(r + j - left) // factor for r in range(factor) for j in range(k)]
    lo, hi = min(offsets), max(offsets)
    span = hi - lo + 1
    W = np.zeros((span, c_in, factor, c_out), np.float64)
    for r in range(factor):
        for j in range(k):
            W[(r + j - left) // factor - lo, :, r, :] += w[:, :, j].T
    return W.reshape(span * c_in, factor * c_out).astype(np.float32), lo, span


def upsample_conv_rows(
    x: np.ndarray,
    W: np.ndarray,
    bias: np.ndarray,
    lo: int,
    span: int,
    factor: int,
    gelu: bool = False,
) -> np.ndarray:
    """``conv(upsample(x))`` with centred padding from :func:`upsample_conv_weight`, then GELU
    if ``gelu``: ``x (n, L, C_in)`` → ``(n, L·factor, C_out)``."""
    n, L, _ = x.shape  # centred padding: offsets lo <= 0 <= lo + span - 1, L outputs
    y = conv_act(x, W, np.tile(bias, factor), span, 1, 1, -lo, lo + span - 1, gelu)
    return y.reshape(n, L * factor, -1)


def mamba_layer(p: dict, m: str, d_state: int, out_w: np.ndarray | None = None) -> dict:
    """A Mamba-2 layer's weights under the prefix ``m`` of ``p``, laid out for
    :func:`mamba_inner`: ``in_w (d, in_proj)``, ``out_w (d_inner, d)`` (``out_w (d, d_inner)``
    given: a folded output projection instead of the layer's own), the conv and SSM parameters.
    """
    if f"{m}.in_proj.bias" in p or f"{m}.out_proj.bias" in p:
        raise ValueError("the engine runs Mamba-2 layers without projection biases")
    out_w = p[f"{m}.out_proj.weight"] if out_w is None else out_w  # (d, d_inner)
    return dict(
        in_w=np.ascontiguousarray(p[f"{m}.in_proj.weight"].T),
        out_w=np.ascontiguousarray(out_w.T, np.float32),
        conv_w=p[f"{m}.conv1d.conv.weight"], conv_b=p.get(f"{m}.conv1d.conv.bias"),
        dt_bias=p[f"{m}.dt_bias"], A_log=p[f"{m}.A_log"], D=p[f"{m}.D"],
        norm_w=p[f"{m}.norm.weight"], d_inner=out_w.shape[1],
        heads=p[f"{m}.A_log"].shape[0], d_state=d_state,
    )  # fmt: skip


def mamba_inner(
    layer: dict,
    zxbcdt: np.ndarray,
    reverse: bool,
    threads: int,
    tail: np.ndarray | None = None,
    state: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The C layer between the projections (:func:`mamba_layer`'s ``layer``) on ``zxbcdt (b, n,
    in_proj)``, a piece of each sequence; ``reverse`` reads every piece from its last step back
    (the backward direction). ``tail (b, Dc, k-1)`` and ``state (b, H, P, N)``: carried from the
    piece before in the order read (None at the start). Returns ``(y (b, n, d_inner) in the
    order read, tail, state)``."""
    b, n, _ = zxbcdt.shape
    di, h, N = layer["d_inner"], layer["heads"], layer["d_state"]
    dc, _, k = layer["conv_w"].shape
    ngroups = (dc - di) // (2 * N)
    v = zxbcdt[:, ::-1] if reverse else zxbcdt
    es = v.strides[0] // 4, v.strides[1] // 4
    base = _ptr(v)
    out = np.empty((b, n, di), np.float32)
    new_tail = np.empty((b, dc, k - 1), np.float32)
    new_state = np.empty((b, h, di // h, N), np.float32)
    pointers = (
        base, base + 4 * di, base + 4 * (di + dc), _ptr(layer["conv_w"]),
        _ptr(layer["conv_b"]), _ptr(tail), _ptr(layer["dt_bias"]), _ptr(layer["A_log"]),
        _ptr(layer["D"]), _ptr(layer["norm_w"]), _ptr(new_tail), _ptr(state),
        _ptr(new_state), _ptr(out),
    )  # fmt: skip
    sizes = (b, n, di, dc, k, h, di // h, ngroups, N, di // ngroups)
    _kernels().mamba2_inner(pointers, sizes, (*es, *es, *es), 1e-5, threads)
    return out, new_tail, new_state


def softplus_(w: np.ndarray) -> np.ndarray:
    """``F.softplus`` (threshold 20: larger values stay) of float32 ``w``, in place."""
    small = w <= 20.0
    np.log1p(np.exp(w, out=w, where=small), out=w, where=small)
    return w


def topk_adjacency(w: np.ndarray, C: int, top_k: int) -> np.ndarray:
    """``topk_adjacency(pairs_to_adjacency(w))``: pair weights ``(n, P)`` → ``(n, C, C)``. Ties
    are broken towards the lower electrode index (as ``eegssm.nn.graph.topk_adjacency``)."""
    n = w.shape[0]
    i, j = np.triu_indices(C, 1)
    adj = np.zeros((n, C, C), np.float32)
    adj[:, i, j] = w
    adj[:, j, i] = w
    k = min(top_k, C - 1)
    scores = adj.copy()
    scores[:, np.arange(C), np.arange(C)] = -np.inf
    idx = np.argsort(-scores, axis=-1, kind="stable")[..., :k]
    mask = np.zeros((n, C, C), bool)
    np.put_along_axis(mask, idx, True, axis=-1)
    out = adj * mask
    return np.maximum(out, out.transpose(0, 2, 1))


def heat_kernel_pe(adj: np.ndarray, k: int) -> np.ndarray:
    """``eegssm.nn.graph.heat_kernel_pe``: ``(n, C, C)`` → ``(n, C, k)`` float32 (one float64
    ``eigh`` per graph)."""
    a = adj.astype(np.float64)
    C = a.shape[-1]
    deg = a.sum(-1)
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0)
    eye = np.eye(C)
    lap = eye - inv[..., :, None] * a * inv[..., None, :]
    finite = np.isfinite(lap).all((-1, -2))
    lap = np.where(finite[:, None, None], lap, eye) + PE_JITTER * eye
    try:
        vals, vecs = np.linalg.eigh(lap)
    except np.linalg.LinAlgError:
        return np.zeros((*adj.shape[:-1], k), np.float32)
    ok = finite & np.isfinite(vecs).all((-1, -2)) & np.isfinite(vals).all(-1)
    times = np.logspace(math.log10(HEAT_T_MIN), math.log10(HEAT_T_MAX), k)
    pe = np.square(vecs) @ np.exp(-vals[..., :, None] * times)
    pe[~ok] = 0.0
    return pe.astype(np.float32)


def pair_similarity(x: np.ndarray) -> np.ndarray:
    """Cosine similarity of every electrode pair per step: electrode features ``x (n, C, d)``
    (a float32 array of its own: normalised in place) → ``(n, P)``, pairs ``i < j`` in
    row-major order."""
    norm = np.sqrt(np.einsum("ncd,ncd->nc", x, x))[..., None]
    x /= np.maximum(norm, 1e-12)  # F.normalize
    i, j = np.triu_indices(x.shape[1], 1)
    return (x @ x.transpose(0, 2, 1))[:, i, j]


def edge_weights_of(seq: np.ndarray, p: dict, ssm) -> np.ndarray:
    """The edge stream on pair sequences ``seq (P, n)`` of pooled similarities: input Linear,
    ``ssm`` (the SSM stack, ``(P, n, d_edge)`` → same), output Linear and softplus → ``(P, n)``."""
    w_in, b_in = p["edge_stream.inp.weight"][:, 0], p["edge_stream.inp.bias"]
    h = ssm(np.ascontiguousarray(seq[:, :, None] * w_in + b_in, np.float32))
    return softplus_(h @ p["edge_stream.out.weight"][0] + p["edge_stream.out.bias"][0])


def gcn_normalize(adj: np.ndarray) -> np.ndarray:
    """``Â = D^-1/2 (A + I) D^-1/2`` (degrees of ``A + I``) of graphs ``(..., C, C)``."""
    a = adj + np.eye(adj.shape[-1], dtype=np.float32)
    inv = 1.0 / np.sqrt(a.sum(-1))
    return inv[..., :, None] * a * inv[..., None, :]


def graph_and_fusion(
    x: np.ndarray, g: np.ndarray, propagate: Callable[[np.ndarray], np.ndarray], p: dict,
    cfg: dict,
) -> np.ndarray:  # fmt: skip
    """``GraphStream``'s SSGConv layers (each with a residual GELU) on ``g`` (node features
    plus PE), then ``GatedFusion`` with the node features ``x`` (same shape, ``d`` last);
    ``propagate(v)`` is ``Â v`` for the graph of each step."""
    K, alpha = cfg["graph_K"], cfg["graph_alpha"]
    for i in range(cfg["graph_layers"]):
        v = acc = propagate(g)
        for _ in range(K - 1):
            v = propagate(v)
            acc = acc + v
        mixed = alpha * g + (1 - alpha) / K * acc
        y = _linear(mixed, p[f"graph.convs.{i}.lin.weight"], p[f"graph.convs.{i}.lin.bias"])
        g = g + gelu_(y, 1)
    gate_w, gate_b = p["fusion.gate.weight"], p["fusion.gate.bias"]
    d = x.shape[-1]
    gate = _linear(x, gate_w[:, :d]) + _linear(g, gate_w[:, d:], gate_b)
    gate = 1.0 / (1.0 + np.exp(-gate))
    return x + gate * g


def readout(f: np.ndarray, p: dict) -> np.ndarray:
    """Mean/max readout over the electrodes (axis 1) of fused features ``f (n, C, ..., d)``,
    then Linear and GELU → ``(n, ..., D)``."""
    z = np.concatenate([f.mean(1), f.max(1)], axis=-1)
    return gelu_(_linear(z, p["readout.weight"], p["readout.bias"]), 1)


# ------------------------------------------------------------------------------------------
# The engine


class DetectorEngine:
    """A ``SeizureDetector`` checkpoint's forward pass, numpy and C (see the module docstring).

    Build it with :meth:`from_folder`; call :meth:`logits` or :meth:`probabilities` on a
    preprocessed recording ``(C, T)`` (any ``C >= 2`` electrodes, ``T`` samples at the
    checkpoint's rate).
    """

    def __init__(self, meta: dict, weights: dict[str, np.ndarray], threads: int | None = None):
        reason = supports(meta)
        if reason is not None:
            raise ValueError(f"the PyTorch-free engine does not run this model: {reason}")
        self.meta, self.cfg = meta, meta["config"]
        self.threads = threads or default_threads()
        self.p = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        cfg = self.cfg
        self.stride = math.prod(cfg["stem_strides"]) * cfg["downsample"]
        #: frames per step of the graph's schedule (pooling and PE interval): stretches start
        #: on multiples of it
        self.align = math.lcm(cfg["edge_pool"], cfg["pe_interval"])
        self._prepare_weights()
        #: seconds per stage of the last :meth:`logits` call
        self.timings: dict[str, float] = {}

    @classmethod
    def from_folder(cls, folder: str | os.PathLike, threads: int | None = None) -> DetectorEngine:
        """From a checkpoint folder (``config.json`` + ``model.safetensors``), validated as
        ``SeizureDetector.from_pretrained`` validates it: the config's fields and ranges, then
        the weights' names and shapes against those the config describes.

        Raises:
            CheckpointError: a missing, invalid or hostile config, or weights that do not fit.
            ValueError: an architecture the engine does not run (:func:`supports`).
        """
        from safetensors.numpy import load_file

        from eegssm.models.checkpoint_meta import check_detector_meta, check_shapes, read_json
        from eegssm.models.checkpoint_meta import safetensors_shapes as shapes_in

        folder = Path(folder)
        config, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
        meta = read_json(config)
        check_detector_meta(meta, config)
        reason = supports(meta)
        if reason is not None:
            raise ValueError(f"the PyTorch-free engine does not run this model: {reason}")
        check_shapes(expected_shapes(meta), shapes_in(weights), weights, config)
        return cls(meta, load_file(str(weights)), threads)

    # -- weights, rearranged once ------------------------------------------------------------
    def _prepare_weights(self) -> None:
        p, cfg = self.p, self.cfg
        self.stem = []
        for i, s in enumerate(cfg["stem_strides"]):
            w = p[f"encoder.stem.{2 * i}.weight"]
            self.stem.append((conv_weight(w), p[f"encoder.stem.{2 * i}.bias"], 2 * s, s))
        k = cfg["tcn_kernel"]
        self.tcn = []
        for i, d in enumerate(cfg["tcn_dilations"]):
            pre = f"encoder.tcn.blocks.{i}"
            res = p.get(f"{pre}.res.weight")
            self.tcn.append((
                d,
                conv_weight(p[f"{pre}.conv1.weight"]), p[f"{pre}.conv1.bias"],
                conv_weight(p[f"{pre}.conv2.weight"]), p[f"{pre}.conv2.bias"],
                None if res is None else (conv_weight(res), p[f"{pre}.res.bias"]),
            ))  # fmt: skip
        self.tcn_kernel = k
        self.down = (conv_weight(p["encoder.down.weight"]), p["encoder.down.bias"])
        self.node = self._stack("node_stream", cfg["node_layers"], cfg["node_d_state"],
                                cfg["node_headdim"])  # fmt: skip
        self.edge = self._stack("edge_stream.ssm", cfg["edge_layers"], cfg["edge_d_state"],
                                cfg["edge_headdim"])  # fmt: skip
        dec = []
        for i, f in enumerate(cfg["decoder_factors"]):
            w = p[f"decoder.convs.{i}.weight"]
            total = w.shape[-1] - 1
            dec.append((*upsample_conv_weight(w, f, total // 2), p[f"decoder.convs.{i}.bias"], f))
        self.decoder = dec

    def _stack(self, prefix: str, n_layers: int, d_state: int, headdim: int) -> dict:
        """An ``SSMStack``'s blocks: LayerNorm, both directions' layers, the merge folded."""
        p = self.p
        blocks = []
        for i in range(n_layers):
            pre = f"{prefix}.{i}"
            proj_w, proj_b = p[f"{pre}.mixer.proj.weight"], p[f"{pre}.mixer.proj.bias"]
            d = proj_w.shape[0]
            layers = []
            for half, name in enumerate(("forward_layer", "backward_layer")):
                m = f"{pre}.mixer.{name}"
                out_w = p[f"{m}.out_proj.weight"]  # (d, d_inner)
                # proj([out_f; out_b]) = y_f · (P_f · O_f)ᵀ + y_b · (P_b · O_b)ᵀ + bias
                merged = proj_w[:, half * d : (half + 1) * d].astype(np.float64) @ out_w
                layers.append(mamba_layer(p, m, d_state, merged))
            blocks.append(dict(
                ln_w=p[f"{pre}.norm.weight"], ln_b=p[f"{pre}.norm.bias"], layers=layers,
                proj_b=proj_b,
            ))  # fmt: skip
        final = (p[f"{prefix}.{n_layers}.weight"], p[f"{prefix}.{n_layers}.bias"])
        return dict(blocks=blocks, final=final)

    def _map(self, fn, items) -> list:
        """``[fn(item) for item in items]`` on ``threads`` worker threads (numpy and the C
        kernels release the GIL), BLAS on one thread meanwhile (each worker runs its own GEMMs)."""
        items = list(items)
        if self.threads < 2 or len(items) < 2:
            return [fn(item) for item in items]
        from concurrent.futures import ThreadPoolExecutor

        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(fn, items))

    # -- layers --------------------------------------------------------------------------------
    def ssm_stack(self, x: np.ndarray, stack: dict, t: int) -> np.ndarray:
        """``SSMStack`` (bidirectional, concat merge) on ``x (b, L, d)`` → ``(b, L, d)``; ``t``
        threads for the C kernels.

        Each direction runs in pieces of ``SSM_STEPS`` steps (the backward one from the end),
        the conv tail and the state carried from piece to piece: the projection of a piece
        stays in the caches between its GEMM and the C layer."""
        L = x.shape[1]
        spans = [(a, min(L, a + SSM_STEPS)) for a in range(0, L, SSM_STEPS)]
        for block in stack["blocks"]:
            u = layer_norm(x, block["ln_w"], block["ln_b"], t)
            mixed = np.empty_like(x)
            for half, layer in enumerate(block["layers"]):
                tail = state = None
                for a, b in reversed(spans) if half else spans:
                    zxbcdt = u[:, a:b] @ layer["in_w"]  # (b, n, in_proj)
                    y, tail, state = mamba_inner(layer, zxbcdt, half == 1, t, tail, state)
                    part = y @ layer["out_w"]  # (b, n, d), the backward one in reversed order
                    if half == 0:
                        mixed[:, a:b] = part
                    else:
                        mixed[:, a:b] += part[:, ::-1]
            mixed += block["proj_b"]
            mixed += x  # the residual, in place: x + proj(...)
            x = mixed
        w, b = stack["final"]
        return layer_norm(x, w, b, t)

    def encode(self, x: np.ndarray, t: int) -> np.ndarray:
        """Front end (``TCNEncoder``, one sequence per electrode): ``x (C, T)``, ``T`` a multiple
        of the stride → electrode features ``(C, L, d)``, ``L = T / stride``; ``t`` threads for
        the C kernels."""
        h = x[:, :, None]
        for w, b, k, s in self.stem:
            total = k - 1 - (s - 1)
            pad = (total // 2, total - total // 2)
            h = conv_act(h, w, b, k, s, 1, *pad, gelu=True, threads=t)
        k = self.tcn_kernel
        for d, w1, b1, w2, b2, res in self.tcn:
            total = (k - 1) * d
            pad = (total // 2, total - total // 2)
            y = conv_act(h, w1, b1, k, 1, d, *pad, gelu=True, threads=t)
            y = conv_act(y, w2, b2, k, 1, d, *pad, gelu=True, threads=t)
            if res is not None:
                h = conv_act(h, res[0], res[1], 1, threads=t)
            y += h
            h = y
        return conv_act(h, self.down[0], self.down[1], 1, threads=t)

    def _pooled_similarity(self, e: np.ndarray, a: int, b: int) -> np.ndarray:
        """Cosine similarity of every electrode pair at steps ``a … b-1`` (``a`` a multiple of
        ``pool``), averaged over ``pool`` steps: ``e (C, L, d)`` → ``(ceil((b-a)/pool), P)``."""
        pairs = pair_similarity(np.ascontiguousarray(e[:, a:b].transpose(1, 0, 2)))  # (n, P)
        pool, n, P = self.cfg["edge_pool"], b - a, pairs.shape[1]
        if pool == 1:
            return pairs
        # F.avg_pool1d(ceil_mode=True): the last window averages the steps it covers
        full = n // pool
        pooled = np.empty((-(-n // pool), P), np.float32)
        pooled[:full] = pairs[: full * pool].reshape(full, pool, P).mean(1)
        if len(pooled) > full:
            pooled[full] = pairs[full * pool :].mean(0)
        return pooled

    def edge_weights(self, e: np.ndarray) -> np.ndarray:
        """Edge stream up to the softplus weights: ``e (C, L, d)`` → ``(Lp, P)`` per pooled step
        and electrode pair (``P = C(C-1)/2``, pairs ``i < j`` in row-major order)."""
        return self.pair_weights(self.pooled_pairs(e))

    def pooled_pairs(self, e: np.ndarray) -> np.ndarray:
        """The edge stream's input: ``e (C, L, d)`` → pooled pair similarities ``(Lp, P)``."""
        spans = self._spans(e.shape[1], self.cfg["edge_pool"])
        return np.concatenate(self._map(lambda ab: self._pooled_similarity(e, *ab), spans))

    def pair_weights(self, pooled: np.ndarray) -> np.ndarray:
        """The edge stream from its input: pooled similarities ``(Lp, P)`` → softplus weights
        ``(Lp, P)``. The pairs' sequences are independent: groups of pairs on the workers, each
        group's SSM inputs made there (a day's would be 0.4 GB at once)."""
        seq = np.ascontiguousarray(pooled.T)  # (P, Lp)

        def group(i: np.ndarray) -> np.ndarray:  # (n, Lp)
            return edge_weights_of(seq[i], self.p, lambda h: self.ssm_stack(h, self.edge, 1))

        P, Lp = seq.shape
        d_edge = len(self.p["edge_stream.inp.bias"])
        groups = max(4 * self.threads, -(-4 * P * Lp * d_edge // GROUP_BYTES))
        parts = np.array_split(np.arange(P), min(P, groups))
        w = np.concatenate(self._map(group, parts))  # (P, Lp)
        return np.ascontiguousarray(w.T, np.float32)

    def adjacency(self, w: np.ndarray, C: int) -> np.ndarray:
        """:func:`topk_adjacency` with the checkpoint's ``top_k``: ``(n, P)`` → ``(n, C, C)``."""
        return topk_adjacency(w, C, self.cfg["top_k"])

    def heat_pe(self, adj: np.ndarray) -> np.ndarray:
        """:func:`heat_kernel_pe` with the checkpoint's ``pe_k``: ``(n, C, C)`` → ``(n, C, k)``."""
        return heat_kernel_pe(adj, self.cfg["pe_k"])

    def fused(
        self, h: np.ndarray, adj_pooled: np.ndarray, a: int, b: int, h0: int = 0
    ) -> np.ndarray:
        """``GraphStream`` + ``GatedFusion`` at steps ``a … b-1`` (``a`` a multiple of the PE
        interval and of ``pool``): node features ``h (C, n_h, d)`` of steps ``h0 … h0+n_h-1``
        and the graphs per pooled step ``(Lp, C, C)`` → fused features ``(n_p, C, pool, d)``,
        the steps grouped by the graph they use (step ``a + pool·q + r`` at ``[q, :, r]``; steps
        from ``b`` on, up to a whole group, are padding), so that each graph multiplies its
        ``pool`` steps in one GEMM."""
        cfg, p = self.cfg, self.p
        C, d = h.shape[0], h.shape[2]
        n, pool, interval = b - a, cfg["edge_pool"], cfg["pe_interval"]
        n_p = -(-n // pool)
        rows = np.zeros((C, n_p * pool, d), np.float32)
        rows[:, :n] = h[:, a - h0 : b - h0]
        x = np.ascontiguousarray(rows.reshape(C, n_p, pool, d).transpose(1, 0, 2, 3))
        # the graph PE, recomputed every `interval` steps (from that step's graph) and held
        first, steps = a // interval, a + np.arange(n_p * pool)
        pe_steps = np.arange(first, steps[-1] // interval + 1) * interval
        pe = _linear(self.heat_pe(adj_pooled[pe_steps // pool]), p["graph.pe_proj.weight"])
        pe += p["graph.pe_proj.bias"]  # (n_pe, C, d)
        held = pe[steps // interval - first].reshape(n_p, pool, C, d).transpose(0, 2, 1, 3)
        g = x + held
        a_hat = gcn_normalize(adj_pooled[a // pool : a // pool + n_p])  # (n_p, C, C)

        def propagate(v: np.ndarray) -> np.ndarray:  # Â v for all the steps of each graph
            return (a_hat @ v.reshape(n_p, C, pool * d)).reshape(v.shape)

        return graph_and_fusion(x, g, propagate, p, cfg)

    def _decoder_halo(self) -> int:
        """Frames on each side of a stretch that the decoder's output within it depends on."""
        halo, scale = 0, 1
        for _, lo, span, _, f in self.decoder:
            halo += -(-max(-lo, lo + span - 1) // scale)
            scale *= f
        return halo

    def _spans(self, L: int, align: int) -> list[tuple[int, int]]:
        """``[a, b)`` stretches covering ``0 … L-1``, each start a multiple of ``align``, about
        ``CHUNK_STEPS`` long, at least one per worker when ``L`` allows."""
        size = max(align, min(CHUNK_STEPS, -(-L // self.threads)) // align * align)
        return [(a, min(L, a + size)) for a in range(0, L, size)]

    def _halo_frames(self) -> int:
        """:meth:`_decoder_halo` rounded up to the graph's schedule (pooling, PE interval)."""
        return -(-self._decoder_halo() // self.align) * self.align

    def _readout_decode(
        self, h: np.ndarray, adj_pooled: np.ndarray, a: int, b: int, h0: int = 0, L: int = 0
    ):
        """Graph, fusion, readout and decoder for frames ``a … b-1`` of a recording of ``L``
        frames (default: ``h``'s), node features ``h (C, n_h, d)`` of frames ``h0 …
        h0+n_h-1``: logits ``((b-a)·S,)``. The stretch is computed with a halo of frames on each
        side (aligned to the graph's schedule; ``h`` must hold it), whose outputs are dropped:
        the decoder's convolutions see real neighbours, zeros only at the recording's ends (as
        on the whole recording)."""
        p = self.p
        L = L or h.shape[1]
        halo = self._halo_frames()
        lo, hi = max(0, a - halo), min(L, b + halo)
        f = self.fused(h, adj_pooled, lo, hi, h0)  # (n_p, C, pool, d)
        y = readout(f, p)  # (n_p, pool, D)
        y = y.reshape(1, -1, y.shape[-1])[:, : hi - lo]  # (1, n, D)
        for W, off, span, bias, factor in self.decoder:
            y = upsample_conv_rows(y, W, bias, off, span, factor, gelu=True)
        out = y[0] @ p["final_layer.weight"][0, :, 0] + p["final_layer.bias"][0]
        S = self.stride
        return out[(a - lo) * S : (b - lo) * S]

    def logits(self, data: np.ndarray) -> np.ndarray:
        """Per-sample logits ``(T,)`` of a preprocessed recording ``data (C, T)``, as
        ``SeizureDetector.forward`` on the whole recording (zero-padded to whole frames)."""
        data = np.asarray(data, dtype=np.float32)
        if data.ndim != 2 or data.shape[0] < 2:
            raise ValueError(f"data must be (C, T) with C >= 2, got shape {data.shape}")
        C, T = data.shape
        if T % self.stride:
            data = np.pad(data, ((0, 0), (0, -T % self.stride)))

        # the front end and the node stream see one electrode at a time: one per worker
        def electrode(i: int) -> tuple[np.ndarray, np.ndarray]:
            e = self.encode(data[i : i + 1], 1)  # (1, L, d)
            return e[0], self.ssm_stack(e, self.node, 1)[0]

        t0 = time.perf_counter()
        done = self._map(electrode, range(C))
        e = np.stack([a for a, _ in done])  # (C, L, d)
        h = np.stack([b for _, b in done])
        del done
        t1 = time.perf_counter()
        adj = self.adjacency(self.edge_weights(e), C)  # (Lp, C, C)
        del e
        t2 = time.perf_counter()
        out = self._readout_stretch(h, adj, 0, h.shape[1], 0, h.shape[1])[:T]
        self.timings = {
            "front end + node stream": t1 - t0,
            "edge stream": t2 - t1,
            "graph, fusion, readout, decoder": time.perf_counter() - t2,
        }
        return out

    def _encode_all(self, x: np.ndarray) -> np.ndarray:
        """:meth:`encode` of every electrode of ``x (C, T)``, one per worker → ``(C, L, d)``."""
        return np.stack(self._map(lambda i: self.encode(x[i : i + 1], 1)[0], range(len(x))))

    def _readout_stretch(
        self, h: np.ndarray, adj: np.ndarray, a: int, b: int, h0: int, L: int
    ) -> np.ndarray:
        """:meth:`_readout_decode` of frames ``a … b-1`` in stretches on the workers: node
        features ``h`` of frames ``h0 …`` (with the halo), ``L`` frames in all → logits."""
        spans = [(a + c, a + d) for c, d in self._spans(b - a, self.align)]
        return np.concatenate(self._map(lambda cd: self._readout_decode(h, adj, *cd, h0, L), spans))

    def encoder_halo(self) -> int:
        """Input samples of context on each side of a chunk of frames that make the front
        end's output exact: its receptive field rounded up to whole frames."""
        cfg = self.cfg
        rf = encoder_receptive_field(
            cfg["stem_strides"], cfg["tcn_kernel"], cfg["tcn_dilations"], cfg["downsample"]
        )
        return -(-rf // self.stride) * self.stride

    def logits_blocks(
        self,
        blocks: Iterable[np.ndarray],
        n_times: int,
        progress: Callable[[int], None] | None = None,
        memory_bytes: int = MEMORY_BYTES,
        tmpdir: str | None = None,
        chunk_frames: int = BLOCK_FRAMES,
    ) -> np.ndarray:
        """:meth:`logits` of a recording that arrives as consecutive ``(C, n_i)`` blocks (whose
        lengths add up to ``n_times``), in memory that does not grow with it beyond the output
        and a few frame-rate arrays: the same values as on the whole recording at once.

        1. Front end, chunk of ``chunk_frames`` frames by chunk as the blocks arrive, each with
           a halo of :meth:`encoder_halo` input samples; the chunk's pooled pair similarities
           (the edge stream's input) are taken at once. The electrode features go to a
           :class:`~eegssm.frames.FrameFile` (a temporary file beyond ``memory_bytes``: a day
           is 0.8 GB).
        2. Node stream, electrode by electrode over the whole recording (one per worker), read
           from the store and written back in place.
        3. Edge stream over the pooled similarities (in memory: 53 MB for a day) and the
           graphs, pooled step by pooled step.
        4. Graph, fusion, readout and decoder, chunk by chunk with a halo of frames.

        ``progress(n)`` is called after each block with its ``n`` samples."""
        from eegssm.frames import FrameFile, chunk_spans, halo_chunks

        cfg, S, align = self.cfg, self.stride, self.align
        chunk = max(align, chunk_frames // align * align)
        L, pool = -(-n_times // S), cfg["edge_pool"]
        if n_times == 0:
            return np.zeros(0, np.float32)
        self.timings = dict.fromkeys(
            ("front end", "node stream", "edge stream", "graph, fusion, readout, decoder"), 0.0
        )
        with tempfile.TemporaryDirectory(prefix="eegssm-engine-", dir=tmpdir) as tmp:
            store = pooled = None
            H = self.encoder_halo()
            try:
                for a, b, x, first in halo_chunks(blocks, n_times, S, H, chunk, progress):
                    t0 = time.perf_counter()
                    C = x.shape[0]
                    if C < 2:
                        raise ValueError(f"blocks must be (C, n) with C >= 2, got C = {C}")
                    e = self._encode_all(x)[:, first : first + b - a]  # (C, n, d)
                    if store is None:
                        size = 4 * C * L * e.shape[2]
                        path = None if size <= memory_bytes else os.path.join(tmp, "features.f32")
                        store = FrameFile(C, L, (e.shape[2],), path)
                        pooled = np.empty((-(-L // pool), C * (C - 1) // 2), np.float32)
                    store.write(a, e)
                    pooled[a // pool : -(-b // pool)] = self.pooled_pairs(e)
                    self.timings["front end"] += time.perf_counter() - t0
                t0 = time.perf_counter()

                def node(i: int) -> None:  # one electrode over the whole recording, in place
                    e = store.read_sequences(i, np.empty((1, L, store.row[0]), np.float32))
                    store.write_sequences(i, self.ssm_stack(e, self.node, 1))

                self._map(node, range(C))
                t1 = time.perf_counter()
                w = self.pair_weights(pooled)  # (Lp, P)
                del pooled
                adj = np.empty((len(w), C, C), np.float32)
                for p0, p1 in chunk_spans(len(w), chunk):
                    adj[p0:p1] = self.adjacency(w[p0:p1], C)
                del w
                t2 = time.perf_counter()
                out = np.empty(L * S, np.float32)
                halo = self._halo_frames()
                for a, b in chunk_spans(L, chunk):
                    lo = max(0, a - halo)
                    h = store.read(lo, min(L, b + halo))  # (C, n, d)
                    out[a * S : b * S] = self._readout_stretch(h, adj, a, b, lo, L)
                self.timings["node stream"] += t1 - t0
                self.timings["edge stream"] += t2 - t1
                self.timings["graph, fusion, readout, decoder"] += time.perf_counter() - t2
            finally:
                if store is not None:
                    store.close()
        return out[:n_times]

    def probabilities_blocks(self, blocks: Iterable[np.ndarray], n_times: int, **kwargs):
        """``sigmoid(logits_blocks(...))``: per-sample probabilities ``(n_times,)`` float32 of a
        recording that arrives block by block (keyword arguments: :meth:`logits_blocks`)."""
        return _sigmoid_(self.logits_blocks(blocks, n_times, **kwargs))

    def probabilities(self, data: np.ndarray) -> np.ndarray:
        """``sigmoid(logits)``: per-sample seizure probabilities ``(T,)`` float32."""
        return _sigmoid_(self.logits(data))
