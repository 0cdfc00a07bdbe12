"""Gated delta rule: the chunked WY/UT form against the naive recurrence."""

from __future__ import annotations

import functools

import pytest
import torch

from eegssm.nn.gated_delta_rule import gated_delta_rule_chunked, gated_delta_rule_naive

from _reference import gdr_inputs, rel_err

LENGTHS = [1, 7, 63, 64, 65, 1000, 4097]
CHUNKS = [16, 64, 256]
HEADS = [1, 2]


@functools.cache
def _case(l: int, h: int):
    inputs = gdr_inputs(b=2, l=l, h=h, dk=8, dv=12, seed=l * 10 + h)
    q, k, v, g, beta, s0 = inputs
    return inputs, gated_delta_rule_naive(q, k, v, g, beta, initial_state=s0)


@pytest.mark.parametrize("h", HEADS, ids=lambda h: f"H{h}")
@pytest.mark.parametrize("chunk", CHUNKS, ids=lambda q: f"Q{q}")
@pytest.mark.parametrize("l", LENGTHS, ids=lambda l: f"B2-T{l}")
def test_chunked_matches_naive(l, chunk, h):
    (q, k, v, g, beta, s0), (o_ref, s_ref) = _case(l, h)
    o, s = gated_delta_rule_chunked(q, k, v, g, beta, chunk_size=chunk, initial_state=s0)
    assert o.shape == o_ref.shape and s.shape == s_ref.shape
    assert torch.isfinite(o).all()
    assert rel_err(o, o_ref) <= 1e-4
    assert rel_err(s, s_ref) <= 1e-4


@pytest.mark.parametrize("l", [5, 77, 300], ids=lambda l: f"T{l}")
def test_extreme_decay_finite(l):
    """Log-decays down to -160 per step (|A| = 16, dt = 10) and beta near 0 and 1."""
    q, k, v, g, beta, _ = gdr_inputs(2, l, 2, 8, 8, g_min=160.0, seed=l)
    g[:, ::3] = -160.0
    beta[:, ::5] = 1.0 - 1e-6
    beta[:, 1::5] = 1e-6
    leaves = [t.clone().requires_grad_(True) for t in (q, k, v, g, beta)]
    o, s = gated_delta_rule_chunked(*leaves, chunk_size=64)
    assert torch.isfinite(o).all() and torch.isfinite(s).all()
    (o.square().mean() + s.square().mean()).backward()
    for t in leaves:
        assert torch.isfinite(t.grad).all()
    o_ref, _ = gated_delta_rule_naive(q, k, v, g, beta)
    assert rel_err(o.detach(), o_ref) <= 1e-4


@pytest.mark.parametrize("l,chunk", [(1, 4), (13, 4), (37, 8)], ids=["T1-Q4", "T13-Q4", "T37-Q8"])
def test_gradients_match_naive_float64(l, chunk):
    q, k, v, g, beta, s0 = gdr_inputs(2, l, 2, 4, 3, dtype=torch.float64, seed=l)
    weights = torch.randn(2, l, 2, 3, dtype=torch.float64)
    grads = []
    for fn in (
        gated_delta_rule_naive,
        lambda *a, **kw: gated_delta_rule_chunked(*a, chunk_size=chunk, **kw),
    ):
        leaves = [t.clone().requires_grad_(True) for t in (q, k, v, g, beta, s0)]
        o, s = fn(*leaves[:5], initial_state=leaves[5])
        ((o * weights).sum() + s.sum()).backward()
        grads.append([t.grad for t in leaves])
    for g_naive, g_chunk in zip(*grads):
        torch.testing.assert_close(g_chunk, g_naive, rtol=1e-9, atol=1e-10)


def test_delta_rule_writes_value_for_unit_beta():
    """With beta = 1 and no decay, S^T k_t == v_t right after step t (the delta rule's defining
    property: the memory stores the newest association exactly)."""
    q, k, v, g, beta, _ = gdr_inputs(1, 6, 1, 4, 5, dtype=torch.float64)
    g.zero_()
    beta.fill_(1.0)
    _, S = gated_delta_rule_chunked(q, k, v, g, beta, chunk_size=4)
    torch.testing.assert_close(torch.einsum("bhkv,bhk->bhv", S, k[:, -1]), v[:, -1])


def test_bad_shapes_are_clear():
    q, k, v, g, beta, _ = gdr_inputs(1, 10, 2, 4, 4)
    with pytest.raises(ValueError, match="g and beta"):
        gated_delta_rule_chunked(q, k, v, g[:, :3], beta)
