"""Electrode graphs: pair indexing, top-k adjacency, Laplacian positional encodings, SSGConv.

All functions are dense and batched over leading dimensions: an EEG montage has 19–23 nodes, so a
``(..., C, C)`` adjacency for every (batch, time step) is small and one ``matmul`` handles all of
them at once (no sparse library, no Python loop over graphs).

Conventions: ``adj (..., C, C)`` non-negative edge weights, zero diagonal; pairs ``i < j`` are
ordered as ``torch.triu_indices(C, C, 1)`` (``C·(C-1)/2`` pairs: 171 for 19 electrodes).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor, nn


def pair_indices(n_nodes: int, device=None) -> Tensor:
    """``(2, P)`` node indices ``(i, j)``, ``i < j``, of the ``P = C·(C-1)/2`` electrode pairs."""
    return torch.triu_indices(n_nodes, n_nodes, 1, device=device)


def pairs_to_adjacency(weights: Tensor, n_nodes: int) -> Tensor:
    """Symmetric adjacency from pair weights: ``(..., P)`` → ``(..., C, C)``, zero diagonal."""
    i, j = pair_indices(n_nodes, weights.device)
    adj = weights.new_zeros(*weights.shape[:-1], n_nodes, n_nodes)
    adj[..., i, j] = weights
    adj[..., j, i] = weights
    return adj


def topk_adjacency(adj: Tensor, k: int, symmetric: bool = True) -> Tensor:
    """Keep the ``k`` strongest neighbours of every node (self excluded).

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
    idx = scores.topk(k, dim=-1).indices
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


def batched_eigh(mats: Tensor) -> Tensor:
    """Eigenvectors of a batch of symmetric matrices ``(..., n, n)`` (``torch.linalg.eigh``).

    On the CPU, torch solves a batch one matrix after another on one thread; with several
    intra-op threads (``torch.get_num_threads()``) and a large batch, the batch is split into
    contiguous parts solved concurrently (``eigh`` releases the GIL). Each matrix is solved by
    the same LAPACK call either way, so the result is identical.
    """
    n = mats.shape[-1]
    batch = mats.numel() // max(1, n * n)
    parts = min(torch.get_num_threads(), 4, batch // EIGH_MIN_PER_THREAD)
    if mats.device.type != "cpu" or parts < 2:
        return torch.linalg.eigh(mats)[1]
    chunks = mats.reshape(batch, n, n).tensor_split(parts)
    futures = [_pool().submit(torch.linalg.eigh, c) for c in chunks[1:]]
    try:
        first = torch.linalg.eigh(chunks[0])[1]
    finally:
        results = [f.result() for f in futures]  # wait for all (re-raises a worker's error)
    return torch.cat([first, *(r[1] for r in results)]).reshape(mats.shape)


def laplacian_pe(adj: Tensor, k: int = 16, jitter: float = 1e-6) -> Tensor:
    """Laplacian positional encoding: eigenvectors of the ``k`` smallest eigenvalues.

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
        a = adj.detach().to(torch.float64)
        lap = normalized_laplacian(a)
        eye = torch.eye(n, dtype=lap.dtype, device=lap.device)
        finite = torch.isfinite(lap).all(-1).all(-1)  # (...)
        lap = torch.where(finite[..., None, None], lap, eye) + jitter * eye
        try:
            vecs = batched_eigh(lap)
        except RuntimeError:  # torch.linalg.LinAlgError: did not converge
            return adj.new_zeros(*adj.shape[:-1], k)
        vecs = vecs[..., :k_eff]
        ok = finite & torch.isfinite(vecs).all(-1).all(-1)
        vecs = torch.where(ok[..., None, None], fix_signs(vecs), torch.zeros_like(vecs))
        if k_eff < k:
            vecs = torch.nn.functional.pad(vecs, (0, k - k_eff))
    return vecs.to(adj.dtype)


def dynamic_laplacian_pe(
    adj: Tensor,
    k: int = 16,
    interval: int = 5,
    jitter: float = 1e-6,
    project: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Laplacian PE of a graph sequence, recomputed every ``interval`` steps and held in between.

    Step ``t`` uses the graph at step ``interval·floor(t / interval) <= t`` (so it stays causal).

    Args:
        adj: ``(B, L, C, C)``.
        project: optional map applied to each step's PE ``(..., C, k)`` → ``(..., C, d)``
            independently (e.g. a ``Linear``); it is applied to the ``ceil(L / interval)``
            recomputed PEs before they are held, which gives ``project(pe)`` of the held
            sequence at ``1 / interval`` of the cost.

    Returns:
        ``(B, L, C, k)``, or ``(B, L, C, d)`` with ``project``.
    """
    L = adj.shape[1]
    pe = laplacian_pe(adj[:, ::interval], k, jitter)  # (B, ceil(L / interval), C, k)
    if project is not None:
        pe = project(pe)
    return pe.repeat_interleave(interval, dim=1)[:, :L]


def dynamic_laplacian_pe_stream(
    adj: Tensor,
    start: int,
    last: Tensor | None,
    k: int = 16,
    interval: int = 5,
    jitter: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """``dynamic_laplacian_pe`` for the next piece of a graph sequence.

    Args:
        adj: ``(B, n, C, C)`` graphs of steps ``start … start + n - 1``.
        start: index of the first step of this piece in the whole sequence.
        last: ``(B, C, k)`` the PE in force before ``start`` (None at the start of a sequence).

    Returns:
        ``(pe (B, n, C, k), new_last (B, C, k))``; equal, piece by piece, to
        ``dynamic_laplacian_pe`` on the whole sequence (the eigenvectors of the same graphs).
    """
    B, n, C, _ = adj.shape
    steps = torch.arange(start, start + n, device=adj.device)
    fresh = steps % interval == 0  # steps whose PE is recomputed
    if last is None:
        last = adj.new_zeros(B, C, k)
    table = last[:, None]
    if bool(fresh.any()):
        table = torch.cat([table, laplacian_pe(adj[:, fresh], k, jitter)], dim=1)
    pe = table[:, torch.cumsum(fresh.long(), 0)]  # 0: the PE held from before this piece
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
