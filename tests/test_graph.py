"""Electrode graph ops: pairs, top-k adjacency, Laplacian and heat-kernel PE (vs direct
formulas, continuity, guards), SSGConv, fusion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegssm.nn import graph
from eegssm.nn.fusion import GatedFusion
from eegssm.nn.graph import (
    SSGConv,
    batched_eigh,
    dynamic_graph_pe,
    dynamic_graph_pe_stream,
    fix_signs,
    graph_pe,
    heat_kernel_pe,
    heat_times,
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
        vals, vecs = batched_eigh(lap)
    finally:
        torch.set_num_threads(threads)
    ref_vals, ref_vecs = torch.linalg.eigh(lap)
    assert torch.equal(vecs, ref_vecs) and torch.equal(vals, ref_vals)

    def broken(a):
        raise torch.linalg.LinAlgError("did not converge")

    monkeypatch.setattr(torch.linalg, "eigh", broken)
    torch.set_num_threads(3)
    try:  # a worker's failure reaches laplacian_pe's guard (zeros)
        assert bool((laplacian_pe(random_graph(19, batch=(150,))) == 0).all())
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("kind", ["laplacian", "heat"])
def test_dynamic_pe_held_between_updates(kind):
    adj = random_graph(19, seed=3, batch=(2, 13)).float()
    pe = dynamic_graph_pe(adj, k=16, interval=5, kind=kind)
    assert pe.shape == (2, 13, 19, 16)
    for t in range(13):
        s = 5 * (t // 5)
        torch.testing.assert_close(pe[:, t], graph_pe(adj[:, s], kind, 16), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["laplacian", "heat"])
def test_pe_stream_equals_dynamic_pe(kind):
    torch.manual_seed(0)
    w = torch.rand(2, 23, 19 * 18 // 2)
    adj = topk_adjacency(pairs_to_adjacency(w, 19), 3)
    ref = dynamic_graph_pe(adj, 16, 5, kind)
    pieces, last, step = [], None, 0
    for n in (3, 1, 7, 4, 8):
        pe, last = dynamic_graph_pe_stream(adj[:, step : step + n], step, last, 16, 5, kind)
        pieces.append(pe)
        step += n
    torch.testing.assert_close(torch.cat(pieces, 1), ref, atol=1e-6, rtol=0)


def test_graph_pe_rejects_unknown_kind():
    with pytest.raises(ValueError, match="heat"):
        graph_pe(random_graph(5), "random_walk")


# -- heat-kernel PE -----------------------------------------------------------------------------


def heat_reference(adj: torch.Tensor, k: int) -> torch.Tensor:
    """Direct formula: the diagonal of ``matrix_exp(-t L)`` for each diffusion time."""
    lap = graph.normalized_laplacian(adj.to(torch.float64))
    return torch.stack(
        [torch.linalg.matrix_exp(-t * lap).diagonal(dim1=-2, dim2=-1) for t in heat_times(k)], -1
    )


def symmetric_graphs(n: int = 19) -> torch.Tensor:
    """Graphs with repeated Laplacian eigenvalues: a cycle, four equal cliques + isolated
    nodes, and a top-k graph of a random model-like weight set that splits into components."""
    cycle = torch.zeros(n, n, dtype=torch.float64)
    idx = torch.arange(n)
    cycle[idx, (idx + 1) % n] = cycle[(idx + 1) % n, idx] = 1.0
    cliques = torch.zeros(n, n, dtype=torch.float64)
    for s in range(0, 16, 4):
        cliques[s : s + 4, s : s + 4] = 0.5
    cliques.fill_diagonal_(0)
    return torch.stack([cycle, cliques, degenerate_graphs(n)[0].double()])


@pytest.mark.parametrize("n,k", [(19, 16), (6, 16), (23, 4), (1, 3)])
def test_heat_kernel_pe_matches_matrix_exp(n, k):
    adj = torch.cat([random_graph(n, seed=n, batch=(2,)), topk_adjacency(random_graph(n), 3)[None]])
    pe = heat_kernel_pe(adj, k=k, jitter=0.0)
    assert pe.shape == (3, n, k) and pe.dtype == torch.float64
    torch.testing.assert_close(pe, heat_reference(adj, k), atol=1e-12, rtol=0)
    sym = symmetric_graphs()
    torch.testing.assert_close(
        heat_kernel_pe(sym, 16, 0.0), heat_reference(sym, 16), atol=1e-12, rtol=0
    )
    # float32 in → float32 out, same values to float32 precision; the jitter is exp(-t·jitter)
    got32 = heat_kernel_pe(adj.float(), k=k)
    assert got32.dtype == torch.float32
    torch.testing.assert_close(got32.double(), heat_reference(adj, k), atol=1e-4, rtol=0)


def test_heat_kernel_pe_is_continuous_where_eigenvectors_are_not():
    """Repeated eigenvalues: a 1e-9 change of the weights rotates the eigenvectors (the
    published PE jumps by O(1)) but moves the heat-kernel PE by O(1e-9)."""
    adj = symmetric_graphs()
    g = torch.Generator().manual_seed(0)
    noise = 1e-9 * torch.rand(adj.shape, generator=g, dtype=torch.float64)
    bumped = adj + (noise + noise.transpose(-1, -2)) * (adj > 0)
    lap_jump = (laplacian_pe(bumped) - laplacian_pe(adj)).abs().amax(dim=(-1, -2))
    heat_jump = (heat_kernel_pe(bumped) - heat_kernel_pe(adj)).abs().amax(dim=(-1, -2))
    assert float(lap_jump.max()) > 0.1  # at least one graph's eigenvectors rotate
    assert float(heat_jump.max()) < 1e-7


def test_heat_kernel_pe_permutes_with_the_nodes():
    adj = torch.cat([random_graph(19, seed=2, batch=(2,)), symmetric_graphs()])
    perm = torch.randperm(19, generator=torch.Generator().manual_seed(3))
    got = heat_kernel_pe(adj[:, perm][:, :, perm])
    torch.testing.assert_close(got, heat_kernel_pe(adj)[:, perm], atol=1e-12, rtol=0)


def test_heat_kernel_pe_limits():
    """Large t on a connected graph: d_i / vol; an isolated node decays as exp(-t); in (0, 1]."""
    adj = random_graph(7, seed=4)
    lap = graph.normalized_laplacian(adj)
    vals = torch.linalg.eigvalsh(lap)
    pe = heat_kernel_pe(adj, k=16, jitter=0.0)
    deg = adj.sum(-1)
    slowest = float(vals[1])  # the spectral gap
    tail = float(torch.exp(-heat_times(16)[-1] * slowest))
    torch.testing.assert_close(pe[:, -1], deg / deg.sum(), atol=tail + 1e-12, rtol=0)
    iso = degenerate_graphs()[0].double()  # node 5 isolated
    torch.testing.assert_close(
        heat_kernel_pe(iso, 16, 0.0)[5], torch.exp(-heat_times(16)), atol=1e-12, rtol=0
    )
    assert bool((pe > 0).all() and (pe <= 1 + 1e-12).all())


def test_heat_kernel_pe_guards_degenerate_graphs(monkeypatch):
    pe = heat_kernel_pe(degenerate_graphs())
    assert bool(torch.isfinite(pe).all()) and bool((pe[2] == 0).all())
    assert bool((pe[:2] > 0).all())

    def broken(*args, **kwargs):
        raise torch.linalg.LinAlgError("did not converge")

    monkeypatch.setattr(torch.linalg, "eigh", broken)
    assert bool((heat_kernel_pe(random_graph(19).float()) == 0).all())


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


def test_pair_indices_first_built_under_inference_mode_still_train():
    """The cached pair indices are built once: under ``torch.inference_mode()`` (detection
    first) they must still index a tensor that autograd records (training afterwards)."""
    from eegssm.nn.graph import _pair_indices

    _pair_indices.cache_clear()
    with torch.inference_mode():
        pair_indices(7)
    w = torch.rand(21, requires_grad=True)
    pairs_to_adjacency(w, 7).sum().backward()
    assert torch.equal(w.grad, torch.full((21,), 2.0))
