"""SSD (Mamba-2 scan): the chunked form against the naive recurrence."""

from __future__ import annotations

import functools

import pytest
import torch

from eegssm.nn.ssd import chunk_scan, segsum, ssd_chunked, ssd_conv_chunked, ssd_naive

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


@pytest.mark.parametrize("block", [1, 200, 1 << 20], ids=lambda e: f"E{e}")
@pytest.mark.parametrize(
    "l,chunk,g", [(1, 4, 1), (13, 4, 2), (37, 8, 1), (100, 16, 2)], ids=lambda v: str(v)
)
def test_blocks_and_skip_gradients_match_naive_float64(monkeypatch, block, l, chunk, g):
    """Several blocks per sequence (the backward carries gradients across blocks), a padded last
    chunk, the fused D skip and an initial state: values and all gradients equal the naive
    recurrence's."""
    import eegssm.nn.ssd as ssd

    monkeypatch.setattr(ssd, "BLOCK_ELEMENTS", block)
    x, dt, A, B, C, s0 = ssd_inputs(2, l, 4, 3, g, 5, dtype=torch.float64, seed=l)
    D = torch.randn(4, dtype=torch.float64)
    wy = torch.randn(2, l, 4, 3, dtype=torch.float64)
    ws = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    results = []
    for fused in (False, True):
        leaves = [t.clone().requires_grad_(True) for t in (x, dt, A, B, C, s0, D)]
        if fused:
            y, s = ssd_chunked(*leaves[:5], chunk, initial_state=leaves[5], D=leaves[6])
        else:
            y, s = ssd_naive(*leaves[:5], initial_state=leaves[5])
            y = y + leaves[0] * leaves[6][:, None]
        ((y * wy).sum() + (s * ws).sum()).backward()
        results.append([y.detach(), s.detach()] + [t.grad for t in leaves])
    for got, want in zip(*results[::-1]):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


def test_only_output_or_only_state_gradient(monkeypatch):
    """Backward with no gradient for the final state, or for the output only through it."""
    import eegssm.nn.ssd as ssd

    monkeypatch.setattr(ssd, "BLOCK_ELEMENTS", 100)
    x, dt, A, B, C, _ = ssd_inputs(1, 30, 2, 3, 1, 4, dtype=torch.float64, seed=5)
    for pick in (0, 1):
        grads = []
        for fn in (ssd_naive, lambda *a: ssd_chunked(*a, chunk_size=8)):
            leaves = [t.clone().requires_grad_(True) for t in (x, dt, A, B, C)]
            fn(*leaves)[pick].square().sum().backward()
            grads.append([t.grad for t in leaves])
        for got, want in zip(*grads[::-1]):
            if want is None:  # C does not reach the final state
                assert got is None or not got.any()
            else:
                torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


def test_chunked_float32_gradients_long(monkeypatch):
    """float32, several blocks, length 1000: gradients within 1e-4 of the float64 reference."""
    import eegssm.nn.ssd as ssd

    monkeypatch.setattr(ssd, "BLOCK_ELEMENTS", 4096)
    x, dt, A, B, C, s0 = ssd_inputs(2, 1000, 4, 8, 2, 16, seed=11)
    grads = []
    for fn, dtype in ((ssd_naive, torch.float64), (ssd_chunked, torch.float32)):
        leaves = [t.to(dtype).requires_grad_(True) for t in (x, dt, A, B, C, s0)]
        kw = {} if fn is ssd_naive else {"chunk_size": 32}
        y, s = fn(*leaves[:5], initial_state=leaves[5], **kw)
        (y.square().mean() + s.square().mean()).backward()
        grads.append([t.grad for t in leaves])
    for got, want in zip(grads[1], grads[0]):
        assert rel_err(got, want) <= 1e-4


@pytest.mark.parametrize("block", [1, 300, 1 << 20], ids=lambda e: f"E{e}")
@pytest.mark.parametrize(
    "l,chunk,g,with_tail",
    [(2, 2, 1, True), (13, 2, 2, True), (37, 8, 1, False), (50, 4, 2, True)],
    ids=lambda v: str(v),
)
def test_conv_fused_equals_conv_then_scan_float64(monkeypatch, block, l, chunk, g, with_tail):
    """``ssd_conv_chunked`` (conv + SiLU + scan + D fused block by block) against ``F.conv1d``,
    SiLU and the naive scan: values and the gradients of every input, with several blocks
    (conv gradients crossing block edges), chunks shorter than the conv, a carried conv tail
    and initial state."""
    import eegssm.nn.ssd as ssd

    monkeypatch.setattr(ssd, "BLOCK_ELEMENTS", block)
    h, p, n, k = 4, 3, 5, 4
    width = h * p + 2 * g * n
    gen = torch.Generator().manual_seed(l)
    _, dt, A, _, _, s0 = ssd_inputs(2, l, h, p, g, n, dtype=torch.float64, seed=l)
    raw = torch.randn(2, l, width, generator=gen, dtype=torch.float64)
    weight = torch.randn(width, 1, k, generator=gen, dtype=torch.float64) * 0.5
    bias = torch.randn(width, generator=gen, dtype=torch.float64) * 0.1
    tail = torch.randn(2, width, k - 1, generator=gen, dtype=torch.float64) if with_tail else None
    D = torch.randn(h, dtype=torch.float64)
    wy = torch.randn(2, l, h, p, generator=gen, dtype=torch.float64)
    ws = torch.randn(2, h, p, n, generator=gen, dtype=torch.float64)
    results = []
    for fused in (True, False):
        leaves = [t.clone().requires_grad_(True) for t in (raw, weight, bias, dt, A, s0, D)]
        tl = None if tail is None else tail.clone().requires_grad_(True)
        if fused:
            y, s = ssd_conv_chunked(
                leaves[0], leaves[1], leaves[2], leaves[3], leaves[4], g, n, chunk, tl,
                leaves[5], leaves[6],
            )  # fmt: skip
        else:
            pad = torch.zeros(2, width, k - 1, dtype=torch.float64) if tl is None else tl
            xp = torch.cat([pad, leaves[0].transpose(1, 2)], dim=-1)
            xbc = torch.nn.functional.conv1d(xp, leaves[1], leaves[2], groups=width)
            xbc = torch.nn.functional.silu(xbc).transpose(1, 2)
            x, B, C = xbc.split([h * p, g * n, g * n], -1)
            x = x.reshape(2, l, h, p)
            y, s = ssd_naive(
                x, leaves[3], leaves[4], B.reshape(2, l, g, n), C.reshape(2, l, g, n), leaves[5]
            )
            y = y + x * leaves[6][:, None]
        ((y * wy).sum() + (s * ws).sum()).backward()
        grads = [t.grad for t in leaves] + ([] if tl is None else [tl.grad])
        results.append([y.detach(), s.detach()] + grads)
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)


def test_conv_fused_shape_errors():
    x, dt, A, B, C, _ = ssd_inputs(1, 10, 4, 8, 1, 16)
    raw = torch.randn(1, 10, 41)  # 41 - 32 is not a multiple of the 4 heads
    with pytest.raises(ValueError, match="raw must be"):
        ssd_conv_chunked(raw, torch.randn(41, 1, 4), None, dt, A, 1, 16)
    with pytest.raises(ValueError, match="dt must be"):
        ssd_conv_chunked(torch.randn(1, 10, 64), torch.randn(64, 1, 4), None, dt[:, :5], A, 1, 16)
