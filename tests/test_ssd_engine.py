"""The SSD CPU engine (``nn/ssd_engine.py``: blocks, reused buffers, hand-written backward, the
fused causal conv) against the maths of ``nn/ssd.py``: the naive recurrence and the paper's
four-step algorithm, with several blocks per sequence (``BLOCK_ELEMENTS`` made small)."""

from __future__ import annotations

import pytest
import torch

from eegssm.nn import ssd_engine
from eegssm.nn.ssd import ssd_chunked, ssd_conv_chunked, ssd_minimal, ssd_naive

from _reference import rel_err, ssd_inputs


@pytest.mark.parametrize("block", [1, 500, 1 << 20], ids=lambda e: f"E{e}")
@pytest.mark.parametrize("l,chunk,g", [(1, 4, 1), (45, 8, 2), (300, 16, 1)], ids=lambda v: str(v))
def test_engine_matches_four_steps(monkeypatch, block, l, chunk, g):
    """Values and final states of the engine equal the four-step algorithm's."""
    monkeypatch.setattr(ssd_engine, "BLOCK_ELEMENTS", block)
    x, dt, A, B, C, s0 = ssd_inputs(2, l, 4, 3, g, 5, dtype=torch.float64, seed=l)
    got = ssd_chunked(x, dt, A, B, C, chunk, initial_state=s0)
    want = ssd_minimal(x, dt, A, B, C, chunk, initial_state=s0)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("block", [1, 200, 1 << 20], ids=lambda e: f"E{e}")
@pytest.mark.parametrize(
    "l,chunk,g", [(1, 4, 1), (13, 4, 2), (37, 8, 1), (100, 16, 2)], ids=lambda v: str(v)
)
def test_blocks_and_skip_gradients_match_naive_float64(monkeypatch, block, l, chunk, g):
    """Several blocks per sequence (the backward carries gradients across blocks), a padded last
    chunk, the fused D skip and an initial state: values and all gradients equal the naive
    recurrence's."""
    monkeypatch.setattr(ssd_engine, "BLOCK_ELEMENTS", block)
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
    monkeypatch.setattr(ssd_engine, "BLOCK_ELEMENTS", 100)
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
    monkeypatch.setattr(ssd_engine, "BLOCK_ELEMENTS", 4096)
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
    monkeypatch.setattr(ssd_engine, "BLOCK_ELEMENTS", block)
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
