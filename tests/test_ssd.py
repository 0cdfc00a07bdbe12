"""SSD (Mamba-2 scan) maths: the four-step chunked algorithm and the layer-facing chunked form
against the naive recurrence. The engine's blocks, buffers, fused conv: ``test_ssd_engine.py``."""

from __future__ import annotations

import functools

import pytest
import torch

from eegssm.nn.ssd import chunk_scan, segsum, ssd_chunked, ssd_minimal, ssd_naive

from _reference import rel_err, ssd_inputs

LENGTHS = [1, 7, 63, 64, 65, 1000, 4097]
CHUNKS = [16, 64, 256]
GROUPS = [1, 2]


@functools.cache
def _case(l: int, g: int):
    """Inputs and the naive result for one (length, groups) case, shared across chunk sizes."""
    inputs = ssd_inputs(b=2, l=l, h=4, p=8, g=g, n=16, seed=l * 10 + g)
    x, dt, A, B, C, s0 = inputs
    return inputs, ssd_naive(x, dt, A, B, C, initial_state=s0)


@pytest.mark.parametrize("g", GROUPS, ids=lambda g: f"G{g}")
@pytest.mark.parametrize("chunk", CHUNKS, ids=lambda q: f"Q{q}")
@pytest.mark.parametrize("l", LENGTHS, ids=lambda l: f"B2-T{l}-H4")
def test_chunked_matches_naive(l, chunk, g):
    (x, dt, A, B, C, s0), (y_ref, s_ref) = _case(l, g)
    y, s = ssd_chunked(x, dt, A, B, C, chunk_size=chunk, initial_state=s0)
    assert y.shape == y_ref.shape and s.shape == s_ref.shape
    assert torch.isfinite(y).all()
    assert rel_err(y, y_ref) <= 1e-4
    assert rel_err(s, s_ref) <= 1e-4


@pytest.mark.parametrize("g", GROUPS, ids=lambda g: f"G{g}")
@pytest.mark.parametrize("chunk", [1, 16, 64], ids=lambda q: f"Q{q}")
@pytest.mark.parametrize("l", [1, 7, 63, 65, 1000], ids=lambda l: f"B2-T{l}-H4")
def test_four_steps_match_naive(l, chunk, g):
    """The paper's four-step algorithm equals the recurrence, padded last chunk included."""
    (x, dt, A, B, C, s0), (y_ref, s_ref) = _case(l, g)
    y, s = ssd_minimal(x, dt, A, B, C, chunk_size=chunk, initial_state=s0)
    assert y.shape == y_ref.shape and s.shape == s_ref.shape
    assert rel_err(y, y_ref) <= 1e-4
    assert rel_err(s, s_ref) <= 1e-4


@pytest.mark.parametrize("l,chunk", [(1, 4), (13, 4), (37, 8)], ids=["T1-Q4", "T13-Q4", "T37-Q8"])
def test_four_steps_gradients_match_naive_float64(l, chunk):
    x, dt, A, B, C, s0 = ssd_inputs(2, l, 4, 3, 2, 5, dtype=torch.float64, seed=l)
    weights = torch.randn(2, l, 4, 3, dtype=torch.float64)
    grads = []
    for fn in (ssd_naive, lambda *a, **k: ssd_minimal(*a, chunk_size=chunk, **k)):
        leaves = [t.clone().requires_grad_(True) for t in (x, dt, A, B, C, s0)]
        y, s = fn(*leaves[:5], initial_state=leaves[5])
        ((y * weights).sum() + s.sum()).backward()
        grads.append([t.grad for t in leaves])
    for g_naive, g_four in zip(*grads):
        torch.testing.assert_close(g_four, g_naive, rtol=1e-9, atol=1e-10)


def test_four_steps_extreme_values_finite():
    """Per-step log-decay down to -160: finite values and gradients (masked cumulative sums)."""
    x, dt, A, B, C, _ = ssd_inputs(2, 77, 4, 8, 2, 16, dt_max=10.0, a_max=16.0, seed=77)
    dt[:, ::3] = 10.0
    A[0] = -16.0
    leaves = [t.clone().requires_grad_(True) for t in (x, dt, A, B, C)]
    y, s = ssd_minimal(*leaves, chunk_size=32)
    (y.square().mean() + s.square().mean()).backward()
    assert all(torch.isfinite(t.grad).all() for t in leaves)
    assert rel_err(y.detach(), ssd_naive(x, dt, A, B, C)[0]) <= 1e-4


def test_zero_initial_state_is_default():
    x, dt, A, B, C, s0 = ssd_inputs(1, 50, 2, 4, 1, 8)
    y1, _ = ssd_chunked(x, dt, A, B, C, 16)
    y2, _ = ssd_chunked(x, dt, A, B, C, 16, initial_state=torch.zeros_like(s0))
    assert torch.equal(y1, y2)


def test_segsum_direct_formula():
    a = torch.randn(3, 9, dtype=torch.float64)
    out = segsum(a)
    for i in range(9):
        for j in range(9):
            expected = a[:, j + 1 : i + 1].sum(-1) if i >= j else torch.full((3,), -torch.inf)
            torch.testing.assert_close(out[:, i, j], expected.to(out.dtype))


@pytest.mark.parametrize("l", [5, 77, 300], ids=lambda l: f"T{l}")
def test_extreme_values_finite(l):
    """dt up to 10 and |A| up to 16 (per-step log-decay down to -160): finite values and grads,
    and still equal to the reference."""
    x, dt, A, B, C, s0 = ssd_inputs(2, l, 4, 8, 2, 16, dt_max=10.0, a_max=16.0, seed=l)
    dt[:, ::3] = 10.0
    A[0] = -16.0
    leaves = [t.clone().requires_grad_(True) for t in (x, dt, A, B, C)]
    y, s = ssd_chunked(*leaves, chunk_size=64)
    assert torch.isfinite(y).all() and torch.isfinite(s).all()
    (y.square().mean() + s.square().mean()).backward()
    for t in leaves:
        assert torch.isfinite(t.grad).all()
    y_ref, _ = ssd_naive(x, dt, A, B, C)
    assert rel_err(y.detach(), y_ref) <= 1e-4


@pytest.mark.parametrize("l,chunk", [(1, 4), (13, 4), (37, 8)], ids=["T1-Q4", "T13-Q4", "T37-Q8"])
def test_gradients_match_naive_float64(l, chunk):
    x, dt, A, B, C, s0 = ssd_inputs(2, l, 4, 3, 2, 5, dtype=torch.float64, seed=l)
    weights = torch.randn(2, l, 4, 3, dtype=torch.float64)
    grads = []
    for fn in (ssd_naive, lambda *a, **k: ssd_chunked(*a, chunk_size=chunk, **k)):
        leaves = [t.clone().requires_grad_(True) for t in (x, dt, A, B, C, s0)]
        y, s = fn(*leaves[:5], initial_state=leaves[5])
        ((y * weights).sum() + s.sum()).backward()
        grads.append([t.grad for t in leaves])
    for g_naive, g_chunk in zip(*grads):
        torch.testing.assert_close(g_chunk, g_naive, rtol=1e-9, atol=1e-10)


def test_gradcheck_chunked():
    x, dt, A, B, C, s0 = ssd_inputs(1, 11, 2, 2, 1, 3, dtype=torch.float64, seed=3)
    leaves = tuple(t.requires_grad_(True) for t in (x, dt, A, B, C, s0))

    def fn(*args):
        return ssd_chunked(*args[:5], chunk_size=4, initial_state=args[5])

    assert torch.autograd.gradcheck(fn, leaves)


def test_bad_shapes_are_clear():
    x, dt, A, B, C, _ = ssd_inputs(1, 10, 3, 4, 2, 8)
    with pytest.raises(ValueError, match="divisible"):
        ssd_chunked(x, dt, A, B, C)
    x, dt, A, B, C, _ = ssd_inputs(1, 10, 4, 4, 2, 8)
    with pytest.raises(ValueError, match="dt must be"):
        ssd_chunked(x, dt[:, :5], A, B, C)
    with pytest.raises(ValueError, match="dt must be"):
        ssd_minimal(x, dt[:, :5], A, B, C)
    with pytest.raises(ValueError, match="chunk_size"):
        ssd_minimal(x, dt, A, B, C, chunk_size=0)


@pytest.mark.parametrize("c", [1, 5, 16, 17, 40], ids=lambda c: f"C{c}")
def test_chunk_scan_matches_loop(c):
    """The two-level scan equals ``S_k = exp(ld_k) S_{k-1} + X_k`` step by step."""
    gen = torch.Generator().manual_seed(c)
    X = torch.randn(2, c, 3, 4, 5, generator=gen, dtype=torch.float64)
    ld = -torch.rand(2, 3, c, generator=gen, dtype=torch.float64) * 3
    S = torch.randn(2, 3, 4, 5, generator=gen, dtype=torch.float64)
    entering, final = chunk_scan(X, ld, S, group=4)
    for k in range(c):
        torch.testing.assert_close(entering[:, k], S)
        S = torch.exp(ld[:, :, k])[..., None, None] * S + X[:, k]
    torch.testing.assert_close(final, S)
