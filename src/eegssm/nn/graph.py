"""Electrode graphs: pair indexing, top-k adjacency, spectral positional encodings, SSGConv.

All functions are dense and batched over leading dimensions: an EEG montage has 19–23 nodes, so a
``(..., C, C)`` adjacency for every (batch, time step) is small and one ``matmul`` handles all of
them at once (no sparse library, no Python loop over graphs).

Conventions: ``adj (..., C, C)`` non-negative edge weights, zero diagonal; pairs ``i < j`` are
ordered as ``torch.triu_indices(C, C, 1)`` (``C·(C-1)/2`` pairs: 171 for 19 electrodes).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor, nn

from eegssm.models.detector_config import HEAT_T_MAX, HEAT_T_MIN, PE_KINDS


def pair_indices(n_nodes: int, device=None) -> Tensor:
    """``(2, P)`` node indices ``(i, j)``, ``i < j``, of the ``P = C·(C-1)/2`` electrode pairs.

    One tensor per ``(n_nodes, device)``, built once (streaming asks for it on every chunk):
    read it, never write into it."""
    return _pair_indices(n_nodes, torch.device(device) if device is not None else None)


@functools.lru_cache(maxsize=32)
def _pair_indices(n_nodes: int, device: torch.device | None) -> Tensor:
    # a normal tensor even when first asked for under torch.inference_mode(): an inference
    # tensor cannot index a tensor that autograd records (training after inference)
    with torch.inference_mode(False):
        return torch.triu_indices(n_nodes, n_nodes, 1, device=device)


def pairs_to_adjacency(weights: Tensor, n_nodes: int) -> Tensor:
    """Symmetric adjacency from pair weights: ``(..., P)`` → ``(..., C, C)``, zero diagonal."""
    i, j = pair_indices(n_nodes, weights.device)
    adj = weights.new_zeros(*weights.shape[:-1], n_nodes, n_nodes)
    adj[..., i, j] = weights
    adj[..., j, i] = weights
    return adj


def topk_adjacency(adj: Tensor, k: int, symmetric: bool = True) -> Tensor:
    """Keep the ``k`` strongest neighbours of every node (self excluded; ties: the lower index).

    Args:
        adj: ``(..., C, C)`` edge weights.
        k: neighbours per node (clipped to ``C - 1``).
        symmetric: ``max(A, Aᵀ)`` after the row-wise selection, so an edge kept by either end
            survives (each node then has at least ``k`` neighbours); ``False`` returns the
            row-wise selection with exactly ``k`` non-zero entries per row.

    Returns:
        ``(..., C, C)``; kept entries carry their weights (gradients flow to them).
    """
    n = adj.shape[-1]
    k = min(k, n - 1)
    eye = torch.eye(n, dtype=torch.bool, device=adj.device)
    scores = adj.detach().masked_fill(eye, float("-inf"))
    # a stable sort: among equal weights (an electrode whose features are all zero has the
    # same similarity to every other) the lower index wins, on every device and in
    # eegssm.engine alike (topk leaves ties to its implementation)
    idx = scores.sort(dim=-1, descending=True, stable=True).indices[..., :k]
    mask = torch.zeros_like(adj, dtype=torch.bool).scatter_(-1, idx, True)
    out = adj * mask
    if symmetric:
        out = torch.maximum(out, out.transpose(-1, -2))
    return out


def normalized_laplacian(adj: Tensor) -> Tensor:
    """``L = I - D^{-1/2} A D^{-1/2}`` on ``(..., C, C)``; isolated nodes get ``L_ii = 1``."""
    deg = adj.sum(-1)
    inv_sqrt = torch.where(deg > 0, deg.clamp_min(1e-12).rsqrt(), torch.zeros_like(deg))
    norm_adj = inv_sqrt[..., :, None] * adj * inv_sqrt[..., None, :]
    eye = torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device)
    return eye - norm_adj


def fix_signs(vectors: Tensor) -> Tensor:
    """Deterministic eigenvector signs: the entry of largest magnitude in each column is positive.

    ``vectors (..., C, k)`` → same shape. (Eigenvectors are defined up to sign; without this, the
    encoding could flip between time steps or runs.)
    """
    idx = vectors.abs().argmax(dim=-2, keepdim=True)  # (..., 1, k)
    sign = torch.sign(vectors.gather(-2, idx))
    return vectors * torch.where(sign == 0, torch.ones_like(sign), sign)


#: Fewest matrices per thread before ``batched_eigh`` splits a CPU batch across threads.
EIGH_MIN_PER_THREAD = 32
_eigh_pool: tuple[int, ThreadPoolExecutor] | None = None  # (owner pid, pool)


def _pool() -> ThreadPoolExecutor:
    """A small thread pool owned by this process (recreated after ``fork``: a forked child
    inherits the pool object but not its threads)."""
    global _eigh_pool
    if _eigh_pool is None or _eigh_pool[0] != os.getpid():
        _eigh_pool = (os.getpid(), ThreadPoolExecutor(max_workers=3, thread_name_prefix="eigh"))
    return _eigh_pool[1]


def batched_eigh(mats: Tensor) -> tuple[Tensor, Tensor]:
    """``torch.linalg.eigh`` of a batch of symmetric matrices ``(..., n, n)``.

    Returns ``(eigenvalues (..., n) ascending, eigenvectors (..., n, n) as columns)``.

    On the CPU, torch solves a batch one matrix after another on one thread; with several
    intra-op threads (``torch.get_num_threads()``) and a large batch, the batch is split into
    contiguous parts solved concurrently (``eigh`` releases the GIL). Each matrix is solved by
    the same LAPACK call either way, so the result is identical.
    """
    n = mats.shape[-1]
    batch = mats.numel() // max(1, n * n)
    parts = min(torch.get_num_threads(), 4, batch // EIGH_MIN_PER_THREAD)
    if mats.device.type != "cpu" or parts < 2:
        return torch.linalg.eigh(mats)
    chunks = mats.reshape(batch, n, n).tensor_split(parts)
    futures = [_pool().submit(torch.linalg.eigh, c) for c in chunks[1:]]
    try:
        first = torch.linalg.eigh(chunks[0])
    finally:
        results = [f.result() for f in futures]  # wait for all (re-raises a worker's error)
    vals = torch.cat([first[0], *(r[0] for r in results)]).reshape(mats.shape[:-1])
    vecs = torch.cat([first[1], *(r[1] for r in results)]).reshape(mats.shape)
    return vals, vecs


def _guarded_eigh(adj: Tensor, jitter: float) -> tuple[Tensor, Tensor, Tensor] | None:
    """Eigen-decomposition of ``normalized_laplacian(adj) + jitter·I`` in float64, no gradients.

    Returns ``(eigenvalues (..., C), eigenvectors (..., C, C), ok (...))`` where ``ok`` is False
    for graphs with non-finite entries or eigenvectors (their rows are to be zeroed by the
    caller), or None when LAPACK fails on the batch.
    """
    n = adj.shape[-1]
    a = adj.detach().to(torch.float64)
    lap = normalized_laplacian(a)
    eye = torch.eye(n, dtype=lap.dtype, device=lap.device)
    finite = torch.isfinite(lap).all(-1).all(-1)  # (...)
    lap = torch.where(finite[..., None, None], lap, eye) + jitter * eye
    try:
        vals, vecs = batched_eigh(lap)
    except RuntimeError:  # torch.linalg.LinAlgError: did not converge
        return None
    ok = finite & torch.isfinite(vecs).all(-1).all(-1) & torch.isfinite(vals).all(-1)
    return vals, vecs, ok


def laplacian_pe(adj: Tensor, k: int = 16, jitter: float = 1e-6) -> Tensor:
    """Laplacian positional encoding: eigenvectors of the ``k`` smallest eigenvalues.

    The published detector's encoding. Note that it is not a continuous function of the graph:
    where eigenvalues repeat (every disconnected top-k graph has a repeated eigenvalue 0), any
    rotation of the eigenspace is an equally valid answer and ``eigh`` may return a different
    one after a 1e-7 change of the edge weights. ``heat_kernel_pe`` has no such ambiguity.

    Computed without gradients on the detached adjacency (the backward pass of ``eigh`` explodes
    for close eigenvalues), in float64, on ``L + jitter·I``. Guards: a matrix with non-finite
    entries, a failing ``eigh`` or non-finite eigenvectors give zeros instead of an error.

    Args:
        adj: ``(..., C, C)`` symmetric, non-negative.
        k: eigenvectors wanted; with ``C < k`` nodes the last ``k - C`` columns are zeros.
        jitter: added to the diagonal (shifts eigenvalues, leaves eigenvectors unchanged).

    Returns:
        ``(..., C, k)`` in the dtype of ``adj``, signs fixed by ``fix_signs``.
    """
    n = adj.shape[-1]
    k_eff = min(k, n)
    with torch.no_grad():
        eig = _guarded_eigh(adj, jitter)
        if eig is None:
            return adj.new_zeros(*adj.shape[:-1], k)
        _, vecs, ok = eig
        vecs = vecs[..., :k_eff]
        vecs = torch.where(ok[..., None, None], fix_signs(vecs), torch.zeros_like(vecs))
        if k_eff < k:
            vecs = torch.nn.functional.pad(vecs, (0, k - k_eff))
    return vecs.to(adj.dtype)


def heat_times(k: int, dtype=torch.float64, device=None) -> Tensor:
    """The ``k`` diffusion times of ``heat_kernel_pe``: ``(k,)`` log-spaced in [0.5, 50]."""
    return torch.logspace(
        math.log10(HEAT_T_MIN), math.log10(HEAT_T_MAX), k, dtype=dtype, device=device
    )


def heat_kernel_pe(adj: Tensor, k: int = 16, jitter: float = 1e-6) -> Tensor:
    """Heat-kernel positional encoding: ``pe[..., i, m] = exp(-t_m · L)[i, i]``.

    The heat kernel signature (Sun, Ovsjanikov & Guibas 2009) of every node at ``k`` diffusion
    times ``t_m`` (``heat_times``), on the normalised Laplacian ``L``: how much of a unit of heat
    placed on node ``i`` is still there after time ``t``. Small ``t`` sees the node's
    neighbourhood; as ``t`` grows it tends to ``d_i / vol(component of i)``, so it tells apart
    nodes in small and large clusters (an isolated node, ``L_ii = 1`` here, decays as
    ``exp(-t)``). It is a spectral encoding like ``laplacian_pe``
    but basis-invariant, ``Σ_j V_ij² exp(-t λ_j)`` sums over whole eigenspaces, so it is a
    continuous function of the edge weights even where eigenvalues repeat, and it permutes with
    the nodes. (A deviation from the published detector, which uses eigenvectors: see
    ``docs/architecture.md``.)

    Computed without gradients from one ``eigh`` per graph, in float64, on ``L + jitter·I``
    (the jitter scales every entry by ``exp(-t·jitter)``). Guards as in ``laplacian_pe``.

    Args:
        adj: ``(..., C, C)`` symmetric, non-negative.
        k: diffusion times (features per node).

    Returns:
        ``(..., C, k)`` in the dtype of ``adj``, values in (0, 1].
    """
    with torch.no_grad():
        eig = _guarded_eigh(adj, jitter)
        if eig is None:
            return adj.new_zeros(*adj.shape[:-1], k)
        vals, vecs, ok = eig
        decay = torch.exp(-vals[..., :, None] * heat_times(k, vals.dtype, vals.device))
        pe = vecs.square() @ decay  # (..., C, C) @ (..., C, k)
        pe = torch.where(ok[..., None, None], pe, torch.zeros_like(pe))
    return pe.to(adj.dtype)


def graph_pe(adj: Tensor, kind: str, k: int = 16, jitter: float = 1e-6) -> Tensor:
    """``laplacian_pe`` (``kind="laplacian"``) or ``heat_kernel_pe`` (``"heat"``).

    Shapes: ``adj (..., C, C)`` → ``(..., C, k)``.
    """
    if kind == "laplacian":
        return laplacian_pe(adj, k, jitter)
    if kind == "heat":
        return heat_kernel_pe(adj, k, jitter)
    raise ValueError(f"positional encoding kind must be one of {PE_KINDS}, got {kind!r}")


def dynamic_graph_pe(
    adj: Tensor,
    k: int = 16,
    interval: int = 5,
    kind: str = "laplacian",
    jitter: float = 1e-6,
    project: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Graph PE of a graph sequence, recomputed every ``interval`` steps and held in between.

    Step ``t`` uses the graph at step ``interval·floor(t / interval) <= t`` (so it stays causal).

    Args:
        adj: ``(B, L, C, C)``.
        kind: ``"laplacian"`` or ``"heat"`` (``graph_pe``).
        project: optional map applied to each step's PE ``(..., C, k)`` → ``(..., C, d)``
            independently (e.g. a ``Linear``); it is applied to the ``ceil(L / interval)``
            recomputed PEs before they are held, which gives ``project(pe)`` of the held
            sequence at ``1 / interval`` of the cost.

    Returns:
        ``(B, L, C, k)``, or ``(B, L, C, d)`` with ``project``.
    """
    L = adj.shape[1]
    pe = graph_pe(adj[:, ::interval], kind, k, jitter)  # (B, ceil(L / interval), C, k)
    if project is not None:
        pe = project(pe)
    return pe.repeat_interleave(interval, dim=1)[:, :L]


def dynamic_graph_pe_stream(
    adj: Tensor,
    start: int,
    last: Tensor | None,
    k: int = 16,
    interval: int = 5,
    kind: str = "laplacian",
    jitter: float = 1e-6,
    project: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """``dynamic_graph_pe`` for the next piece of a graph sequence.

    Args:
        adj: ``(B, n, C, C)`` graphs of steps ``start … start + n - 1``.
        start: index of the first step of this piece in the whole sequence.
        last: ``(B, C, k)`` (``(B, C, d)`` with ``project``) the PE in force before ``start``
            (None at the start of a sequence).
        project: as in ``dynamic_graph_pe``: applied to the recomputed PEs only, then held.

    Returns:
        ``(pe (B, n, C, k or d), new_last (B, C, k or d))``; equal, piece by piece, to
        ``dynamic_graph_pe`` on the whole sequence (the PE of the same graphs). The schedule is
        worked out in Python (no tensor operations on pieces without a recomputed step).
    """
    B, n, C, _ = adj.shape
    first = -(-start // interval) * interval - start  # first recomputed step of the piece
    fresh = list(range(first, n, interval))
    if last is None:
        last = adj.new_zeros(B, C, k)
        last = project(last) if project is not None else last
    if not fresh:  # the PE held from before this piece
        return last[:, None].expand(B, n, *last.shape[1:]), last
    new = graph_pe(adj[:, fresh], kind, k, jitter)  # (B, len(fresh), C, k)
    if project is not None:
        new = project(new)
    table = torch.cat([last[:, None], new], dim=1)
    if interval == 1:  # every step recomputed
        return table[:, 1:], table[:, -1]
    # step i uses table[number of recomputed steps <= i] (0: the PE held from before the piece)
    steps = torch.arange(start, start + n, device=adj.device)
    pe = table[:, steps.div(interval, rounding_mode="floor") - (start - 1) // interval]
    return pe, table[:, -1]


def gcn_normalize(adj: Tensor) -> Tensor:
    """``Â = D̃^{-1/2} (A + I) D̃^{-1/2}`` with ``D̃`` the degrees of ``A + I``: ``(..., C, C)``."""
    a = adj + torch.eye(adj.shape[-1], dtype=adj.dtype, device=adj.device)
    inv_sqrt = a.sum(-1).rsqrt()
    return inv_sqrt[..., :, None] * a * inv_sqrt[..., None, :]


class SSGConv(nn.Module):
    """Simple spectral graph convolution (Zhu & Koniusz 2021; the PyG ``SSGConv`` form), dense.

    ``out = W·(α·x + (1 - α)/K · Σ_{k=1..K} Â^k x) + b`` with ``Â = gcn_normalize(adj)``.

    Args:
        in_features, out_features: ``d_in``, ``d_out``.
        alpha: teleport weight ``α`` (0.05 in the published detector).
        K: propagation steps.

    Shapes: ``x (N, C, d_in)``, ``adj (N, C, C)`` (any leading dims, matching) →
    ``(N, C, d_out)``; all ``N`` graphs in one batched ``matmul`` per step.
    """

    def __init__(self, in_features: int, out_features: int, alpha: float = 0.05, K: int = 2):
        super().__init__()
        if K < 1:
            raise ValueError(f"K must be >= 1, got {K}")
        self.alpha, self.K = alpha, K
        self.lin = nn.Linear(in_features, out_features)

    def forward(self, x: Tensor, adj: Tensor, normalized: bool = False) -> Tensor:
        """``normalized=True``: ``adj`` is already ``gcn_normalize(adj)`` (layers that share
        one graph normalise it once)."""
        a_hat = adj if normalized else gcn_normalize(adj)
        h = acc = a_hat @ x
        for _ in range(self.K - 1):
            h = a_hat @ h
            acc = acc + h
        return self.lin(self.alpha * x + (1 - self.alpha) / self.K * acc)
