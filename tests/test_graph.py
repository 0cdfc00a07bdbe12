"""Electrode graph ops: pairs, top-k adjacency, Laplacian PE (vs numpy, guards), SSGConv, fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegssm.nn import graph
from eegssm.nn.fusion import GatedFusion
from eegssm.nn.graph import (
    SSGConv,
    batched_eigh,
    dynamic_laplacian_pe,
    fix_signs,
    laplacian_pe,
    pair_indices,
    pairs_to_adjacency,
    topk_adjacency,
)


def random_graph(n: int, seed: int = 0, batch: tuple = ()) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(*batch, n * (n - 1) // 2, generator=g, dtype=torch.float64) + 0.1
    return pairs_to_adjacency(w, n)


@pytest.mark.parametrize("n,p", [(19, 171), (22, 231), (23, 253)])
def test_pairs(n, p):
    i, j = pair_indices(n)
    assert i.numel() == p and bool((i < j).all())
    w = torch.arange(p, dtype=torch.float32) + 1
    adj = pairs_to_adjacency(w, n)
    assert torch.equal(adj, adj.T) and bool((adj.diagonal() == 0).all())
    assert torch.equal(adj[i, j], w)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_topk_exactly_k_neighbours(k):
    adj = random_graph(19, batch=(4, 7)).float()
    rows = topk_adjacency(adj, k, symmetric=False)
    assert bool(((rows > 0).sum(-1) == k).all())
    assert bool((rows.diagonal(dim1=-2, dim2=-1) == 0).all())
    # the kept entries are the k largest of each row, with their weights
    kth = adj.masked_fill(torch.eye(19, dtype=torch.bool), -1).topk(k, -1).values[..., -1:]
    assert torch.equal(rows, adj * (adj >= kth))
    sym = topk_adjacency(adj, k)
    assert torch.equal(sym, sym.transpose(-1, -2))
    assert bool(((sym > 0).sum(-1) >= k).all())


def test_topk_passes_gradients_to_kept_pair_weights():
    w = (torch.rand(15, generator=torch.Generator().manual_seed(1)) + 0.1).requires_grad_(True)
    topk_adjacency(pairs_to_adjacency(w, 6), 2).sum().backward()
    i, j = pair_indices(6)
    kept = topk_adjacency(pairs_to_adjacency(w.detach(), 6), 2)[i, j] > 0
    assert bool((w.grad[kept] > 0).all()) and bool((w.grad[~kept] == 0).all())


def numpy_pe(adj: np.ndarray, k: int) -> np.ndarray:
    """Direct computation: eigenvectors of I - D^-1/2 A D^-1/2, k smallest, largest entry > 0."""
    d = adj.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.maximum(d, 1e-300)), 0.0)
    lap = np.eye(len(adj)) - inv[:, None] * adj * inv[None, :]
    _, vecs = np.linalg.eigh(lap)
    vecs = vecs[:, :k]
    idx = np.abs(vecs).argmax(0)
    vecs = vecs * np.sign(vecs[idx, np.arange(vecs.shape[1])])
    return np.pad(vecs, ((0, 0), (0, k - vecs.shape[1])))


@pytest.mark.parametrize("n", [19, 6])
def test_laplacian_pe_matches_numpy(n):
    adj = random_graph(n, seed=n)
    pe = laplacian_pe(adj, k=16)
    assert pe.shape == (n, 16)
    np.testing.assert_allclose(pe.numpy(), numpy_pe(adj.numpy(), 16), atol=1e-6)
    if n < 16:
        assert bool((pe[:, n:] == 0).all())
    batched = laplacian_pe(torch.stack([adj, adj.flip(0).flip(1)]), k=16)
    np.testing.assert_allclose(batched[0].numpy(), pe.numpy(), atol=1e-9)


def test_fix_signs_is_deterministic():
    v = torch.tensor([[0.1, -0.9], [-0.5, 0.3]])
    assert torch.equal(fix_signs(v), fix_signs(-v))
    assert torch.equal(fix_signs(v), torch.tensor([[-0.1, 0.9], [0.5, -0.3]]))


def degenerate_graphs(n: int = 19) -> torch.Tensor:
    two_parts = torch.zeros(n, n)
    two_parts[:5, :5] = 1.0
    two_parts[6:, 6:] = 1.0  # node 5 isolated; three components
    two_parts.fill_diagonal_(0)
    empty = torch.zeros(n, n)
    nan = random_graph(n).float()
    nan[0, 1] = nan[1, 0] = float("nan")
    return torch.stack([two_parts, empty, nan])


def test_laplacian_pe_guards_degenerate_graphs():
    pe = laplacian_pe(degenerate_graphs())
    assert bool(torch.isfinite(pe).all())
    assert bool((pe[2] == 0).all())  # non-finite input → zeros, others still computed
    assert bool((pe[0].abs().sum(0) > 0).all())  # disconnected graph: real eigenvectors


def test_laplacian_pe_falls_back_when_eigh_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise torch.linalg.LinAlgError("did not converge")

    monkeypatch.setattr(torch.linalg, "eigh", broken)
    pe = laplacian_pe(random_graph(19).float(), k=16)
    assert pe.shape == (19, 16) and bool((pe == 0).all())


def test_batched_eigh_split_across_threads_is_identical(monkeypatch):
    lap = graph.normalized_laplacian(random_graph(19, seed=5, batch=(3, 50)))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # 150 matrices → three parts of 50
        got = batched_eigh(lap)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(got, torch.linalg.eigh(lap)[1])

    def broken(a):
        raise torch.linalg.LinAlgError("did not converge")

    monkeypatch.setattr(torch.linalg, "eigh", broken)
    torch.set_num_threads(3)
    try:  # a worker's failure reaches laplacian_pe's guard (zeros)
        assert bool((laplacian_pe(random_graph(19, batch=(150,))) == 0).all())
    finally:
        torch.set_num_threads(threads)


def test_dynamic_pe_held_between_updates():
    adj = random_graph(19, seed=3, batch=(2, 13)).float()
    pe = dynamic_laplacian_pe(adj, k=16, interval=5)
    assert pe.shape == (2, 13, 19, 16)
    for t in range(13):
        s = 5 * (t // 5)
        torch.testing.assert_close(pe[:, t], laplacian_pe(adj[:, s], 16), atol=1e-6, rtol=0)


def test_gradients_finite_through_pe_path():
    torch.manual_seed(0)
    proj = torch.nn.Linear(16, 8)
    conv = SSGConv(8, 8)
    adj = torch.cat([degenerate_graphs()[:2], random_graph(19).float()[None]]).requires_grad_()
    x = torch.randn(3, 19, 8, requires_grad=True)
    h = x + proj(laplacian_pe(adj, 16))
    conv(h, adj).square().sum().backward()
    for g in (proj.weight.grad, adj.grad, x.grad, conv.lin.weight.grad):
        assert bool(torch.isfinite(g).all())
    assert float(proj.weight.grad.abs().sum()) > 0


def test_ssgconv_matches_formula():
    torch.manual_seed(0)
    A = np.array([[0, 1, 0, 2], [1, 0, 3, 0], [0, 3, 0, 0], [2, 0, 0, 0]], dtype=np.float64)
    x = np.random.default_rng(0).normal(size=(4, 3))
    conv = SSGConv(3, 2, alpha=0.05, K=3).double()
    got = conv(torch.from_numpy(x), torch.from_numpy(A)).detach().numpy()
    At = A + np.eye(4)
    dinv = 1 / np.sqrt(At.sum(1))
    S = dinv[:, None] * At * dinv[None, :]
    prop = sum(np.linalg.matrix_power(S, k) @ x for k in (1, 2, 3))
    mixed = 0.05 * x + (1 - 0.05) / 3 * prop
    W, b = conv.lin.weight.detach().numpy(), conv.lin.bias.detach().numpy()
    np.testing.assert_allclose(got, mixed @ W.T + b, rtol=1e-12, atol=1e-12)


def test_ssgconv_batched_equals_per_graph():
    conv = SSGConv(4, 4)
    adj = random_graph(7, batch=(2, 3)).float()
    x = torch.randn(2, 3, 7, 4)
    out = conv(x, adj)
    torch.testing.assert_close(out[1, 2], conv(x[1, 2], adj[1, 2]))


def test_gated_fusion_formula():
    fuse = GatedFusion(4)
    node, other = torch.randn(5, 4), torch.randn(5, 4)
    gate = torch.sigmoid(fuse.gate(torch.cat([node, other], -1)))
    torch.testing.assert_close(fuse(node, other), node + gate * other)
