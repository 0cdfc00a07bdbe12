"""Mamba2 and GatedDeltaNet blocks: streaming state, step form, init, bidirectional wrappers."""

from __future__ import annotations

import pytest
import torch

from eegssm.nn import Bidirectional, BiGatedDeltaNet, BiMamba2, GatedDeltaNet, Mamba2
from eegssm.nn.conv import CausalDepthwiseConv1d

from _reference import rel_err


def _mamba(chunk=16, **kw):
    torch.manual_seed(0)
    return Mamba2(32, d_state=16, d_conv=4, expand=2, headdim=16, ngroups=2, chunk_size=chunk, **kw)


def _deltanet(chunk=16):
    torch.manual_seed(0)
    return GatedDeltaNet(32, num_heads=2, head_dim=16, expand_v=2, chunk_size=chunk)


BLOCKS = {"mamba2": _mamba, "deltanet": _deltanet}


@pytest.mark.parametrize("name", BLOCKS)
@pytest.mark.parametrize("split", [1, 2, 37, 99], ids=lambda s: f"split{s}")
def test_two_pieces_equal_whole(name, split):
    block = BLOCKS[name]()
    x = torch.randn(2, 100, 32)
    with torch.no_grad():
        whole, final = block(x, return_state=True)
        y1, state = block(x[:, :split], return_state=True)
        y2, final2 = block(x[:, split:], state=state, return_state=True)
    assert rel_err(torch.cat([y1, y2], dim=1), whole) <= 1e-5
    for a, b in zip(vars(final).values(), vars(final2).values()):
        assert rel_err(b, a) <= 1e-5


@pytest.mark.parametrize("name", BLOCKS)
def test_step_by_step_equals_whole(name):
    block = BLOCKS[name]()
    x = torch.randn(2, 70, 32)
    with torch.no_grad():
        whole, final = block(x, return_state=True)
        state = block.empty_state(2)
        ys = []
        for t in range(x.shape[1]):
            y_t, state = block.step(x[:, t], state)
            ys.append(y_t)
    assert rel_err(torch.stack(ys, dim=1), whole) <= 1e-5
    for a, b in zip(vars(final).values(), vars(state).values()):
        assert rel_err(b, a) <= 1e-5


@pytest.mark.parametrize("name", BLOCKS)
def test_many_small_pieces_then_steps(name):
    """Pieces shorter than the conv width, then single steps, then a long piece."""
    block = BLOCKS[name]()
    x = torch.randn(1, 60, 32)
    with torch.no_grad():
        whole = block(x)
        state, outs, t = block.empty_state(1), [], 0
        for size in (1, 2, 3, 1, 10):
            y, state = block(x[:, t : t + size], state=state, return_state=True)
            outs.append(y)
            t += size
        for _ in range(5):
            y, state = block.step(x[:, t], state)
            outs.append(y[:, None])
            t += 1
        outs.append(block(x[:, t:], state=state))
    assert rel_err(torch.cat(outs, dim=1), whole) <= 1e-5


@pytest.mark.parametrize("name", BLOCKS)
def test_chunk_size_does_not_change_output(name):
    x = torch.randn(2, 130, 32)
    with torch.no_grad():
        outs = [BLOCKS[name](chunk=q)(x) for q in (8, 64, 256)]
    for y in outs[1:]:
        assert rel_err(y, outs[0]) <= 1e-5


@pytest.mark.parametrize("name", BLOCKS)
def test_causal(name):
    block = BLOCKS[name]()
    x = torch.randn(1, 50, 32)
    x2 = x.clone()
    x2[:, 30:] += 5.0
    with torch.no_grad():
        assert torch.equal(block(x)[:, :30], block(x2)[:, :30])


@pytest.mark.parametrize("name", BLOCKS)
def test_backward_finite(name):
    block = BLOCKS[name]()
    x = torch.randn(2, 65, 32, requires_grad=True)
    block(x).square().mean().backward()
    assert torch.isfinite(x.grad).all()
    for p in block.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_mamba2_reference_init_and_no_weight_decay():
    torch.manual_seed(1)
    block = Mamba2(64, d_state=128, d_conv=4, expand=2, headdim=64)
    assert block.nheads == 2 and block.in_proj.out_features == 128 + (128 + 2 * 128) + 2
    A = -torch.exp(block.A_log)
    assert ((A <= -1.0) & (A >= -16.0)).all()
    dt = torch.nn.functional.softplus(block.dt_bias)
    assert ((dt >= 1e-3 - 1e-7) & (dt <= 0.1 + 1e-7)).all()
    assert torch.equal(block.D, torch.ones_like(block.D))
    flagged = {n for n, p in block.named_parameters() if getattr(p, "_no_weight_decay", False)}
    assert flagged == {"A_log", "dt_bias", "D"}
    gdn = GatedDeltaNet(64)
    flagged = {n for n, p in gdn.named_parameters() if getattr(p, "_no_weight_decay", False)}
    assert flagged == {"A_log", "dt_bias"}


def test_block_config_errors():
    with pytest.raises(ValueError, match="headdim"):
        Mamba2(10, headdim=64)
    with pytest.raises(ValueError, match="ngroups"):
        Mamba2(64, headdim=32, ngroups=3)


def test_causal_conv_matches_direct_formula():
    torch.manual_seed(0)
    conv = CausalDepthwiseConv1d(6, kernel_size=3)
    x = torch.randn(2, 11, 6)
    y, tail = conv(x)
    w, b = conv.conv.weight[:, 0], conv.conv.bias  # (D, k)
    xp = torch.cat([torch.zeros(2, 2, 6), x], dim=1)
    direct = torch.stack(
        [torch.nn.functional.silu((xp[:, t : t + 3] * w.T).sum(1) + b) for t in range(11)], dim=1
    )
    torch.testing.assert_close(y, direct)
    torch.testing.assert_close(tail, x[:, -2:].transpose(1, 2))


@pytest.mark.parametrize("merge", ["add", "concat"])
@pytest.mark.parametrize("cls", [BiMamba2, BiGatedDeltaNet], ids=["mamba2", "deltanet"])
def test_bidirectional_sees_both_sides(cls, merge):
    torch.manual_seed(0)
    kw = {"headdim": 16, "d_state": 8} if cls is BiMamba2 else {"head_dim": 16, "num_heads": 2}
    layer = cls(32, merge=merge, **kw)
    x = torch.randn(1, 40, 32)
    x2 = x.clone()
    x2[:, -1] += 3.0
    with torch.no_grad():
        y, y2 = layer(x), layer(x2)
    assert y.shape == x.shape
    assert not torch.allclose(y[:, 0], y2[:, 0])  # first output depends on the last input


def test_bidirectional_add_is_sum_of_directions():
    torch.manual_seed(0)
    layer = Bidirectional(lambda: Mamba2(16, d_state=8, headdim=8), merge="add")
    x = torch.randn(2, 20, 16)
    with torch.no_grad():
        expected = layer.forward_layer(x) + layer.backward_layer(x.flip(1)).flip(1)
        torch.testing.assert_close(layer(x), expected)
    shared = Bidirectional(lambda: Mamba2(16, d_state=8, headdim=8), shared=True)
    n_shared = sum(p.numel() for p in shared.parameters())
    assert n_shared * 2 == sum(p.numel() for p in layer.parameters())
    with pytest.raises(ValueError, match="merge"):
        Bidirectional(lambda: Mamba2(16, headdim=8), merge="mean")


def test_kernels_not_used_on_cpu():
    from eegssm.nn import kernels

    x = torch.randn(1, 4, 8, 8)
    assert not kernels.use_ssd(x) and not kernels.use_gated_delta_rule(x)
    assert not kernels.use_causal_conv1d(x[0])
    assert all(isinstance(kernels.available(n), bool) for n in ("ssd", "conv", "gdn"))


@pytest.mark.parametrize("L", [1, 2, 3, 5, 40], ids=lambda L: f"T{L}")
@pytest.mark.parametrize("with_tail", [False, True], ids=["zeros", "tail"])
def test_causal_conv_gradients_match_conv1d(L, with_tail, monkeypatch):
    """The multiply-add conv (hand-written backward) against ``F.conv1d`` on the padded input:
    values, new tail and gradients of input, tail, weight and bias (float64), including
    sequences shorter than the kernel and a weight gradient reduced in several slices."""
    from eegssm.nn import conv as conv_mod

    monkeypatch.setattr(conv_mod, "_REDUCE_ELEMENTS", 12)
    torch.manual_seed(L)
    conv = CausalDepthwiseConv1d(6, kernel_size=4).double()
    x = torch.randn(2, L, 6, dtype=torch.float64, requires_grad=True)
    tail = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True) if with_tail else None
    y, new_tail = conv(x, tail)
    padded = torch.cat([torch.zeros(2, 6, 3, dtype=torch.float64) if tail is None else tail,
                        x.transpose(1, 2)], -1)  # fmt: skip
    w, b = conv.conv.weight, conv.conv.bias
    ref = torch.nn.functional.silu(torch.nn.functional.conv1d(padded, w, b, groups=6))
    torch.testing.assert_close(y, ref.transpose(1, 2))
    torch.testing.assert_close(new_tail, padded[..., -3:])
    leaves = [x, w, b] + ([tail] if with_tail else [])
    gy = torch.randn_like(y)
    got = torch.autograd.grad((y * gy).sum(), leaves)
    want = torch.autograd.grad((ref.transpose(1, 2) * gy).sum(), leaves)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e)


@pytest.mark.parametrize("before", [False, True], ids=["mamba2", "deltanet"])
@pytest.mark.parametrize("group_size", [8, 16])
def test_gated_rmsnorm_matches_formula(before, group_size):
    """Hand-written gated RMSNorm against the autograd formula: values and gradients (float64),
    and gradcheck of the function itself."""
    from eegssm.nn.norm import RMSNormGated, _GatedRMSNorm

    torch.manual_seed(group_size)
    norm = RMSNormGated(16, group_size=group_size, norm_before_gate=before).double()
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = torch.randn(3, 5, 16, dtype=torch.float64, requires_grad=True)
    z = torch.randn(3, 5, 16, dtype=torch.float64, requires_grad=True)
    gate = torch.nn.functional.silu(z)
    u = x if before else x * gate
    groups = u.reshape(3, 5, -1, group_size)
    ref = (groups * torch.rsqrt(groups.pow(2).mean(-1, keepdim=True) + norm.eps)).reshape(u.shape)
    ref = ref * norm.weight * (gate if before else 1.0)
    out = norm(x, z)
    torch.testing.assert_close(out, ref)
    gy = torch.randn_like(out)
    leaves = (x, z, norm.weight)
    got = torch.autograd.grad((out * gy).sum(), leaves)
    want = torch.autograd.grad((ref * gy).sum(), leaves)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e)
    shape = (3, 5, -1, group_size)
    w = norm.weight.detach().view(-1, group_size).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b, c: _GatedRMSNorm.apply(a.view(shape), b.view(shape), c, 1e-5, before),
        (x, z, w),
    )


def test_mamba2_projection_split_equals_in_proj():
    """``_project`` (one GEMM per part) equals splitting ``in_proj(u)``, with and without bias."""
    for bias in (False, True):
        torch.manual_seed(0)
        block = Mamba2(32, d_state=16, headdim=16, ngroups=2, bias=bias).double()
        u = torch.randn(2, 9, 32, dtype=torch.float64)
        for a, b in zip(block._project(u), block._split(block.in_proj(u))):
            assert a.is_contiguous()
            torch.testing.assert_close(a, b)
        # gradients, also when some parts get none (the dt part unused)
        from eegssm.nn.mamba2 import _SplitLinear

        w = block.in_proj.weight.detach().clone().requires_grad_(True)
        b_ = None if not bias else block.in_proj.bias.detach().clone().requires_grad_(True)
        uu = u[:, :3, :5].clone().requires_grad_(True)
        w5 = w[:, :5]
        args = (uu, w5) + ((b_,) if bias else ())

        def fn(uu, w5, *bb):
            z, xbc, _ = _SplitLinear.apply(uu, w5, bb[0] if bb else None, [64, 128, 4])
            return z, xbc

        assert torch.autograd.gradcheck(fn, args)


def test_mamba2_gradients_match_reference_float64():
    """The whole block (conv, packed SSD with fused D, gated norm, split projection) against
    the same block built from reference parts: the naive scan, ``F.conv1d`` and the autograd
    norm formula; outputs and every parameter gradient (float64)."""
    from eegssm.nn.ssd import ssd_naive

    torch.manual_seed(0)
    block = Mamba2(16, d_state=8, headdim=8, ngroups=2, chunk_size=8).double()
    u = torch.randn(2, 29, 16, dtype=torch.float64, requires_grad=True)

    def reference(u):
        zxbcdt = block.in_proj(u)
        z, xbc, dt = block._split(zxbcdt)
        k = block.d_conv
        xp = torch.nn.functional.pad(xbc.transpose(1, 2), (k - 1, 0))
        c = block.conv1d.conv
        xbc = torch.nn.functional.silu(
            torch.nn.functional.conv1d(xp, c.weight, c.bias, groups=xbc.shape[-1])
        ).transpose(1, 2)
        x, B, C = block._split_xbc(xbc)
        dt = torch.nn.functional.softplus(dt + block.dt_bias)
        y, _ = ssd_naive(x, dt, -torch.exp(block.A_log), B, C)
        y = (y + x * block.D[:, None]).reshape(2, 29, -1)
        v = y * torch.nn.functional.silu(z)
        g = v.reshape(2, 29, block.ngroups, -1)
        v = (g * torch.rsqrt(g.pow(2).mean(-1, keepdim=True) + block.norm.eps)).reshape(v.shape)
        return block.out_proj(v * block.norm.weight)

    gy = torch.randn(2, 29, 16, dtype=torch.float64)
    leaves = [u, *block.parameters()]
    got_y = block(u)
    got = torch.autograd.grad((got_y * gy).sum(), leaves)
    want_y = reference(u)
    want = torch.autograd.grad((want_y * gy).sum(), leaves)
    torch.testing.assert_close(got_y, want_y)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e)
