"""The C recurrence (``eegssm.nn.cpu_scan``) against the reference ``ssd_naive`` (float64) on
random inputs: constant-size and generic head sizes, groups, awkward lengths, extreme decays,
column-slice inputs, any thread count, state carried across pieces; and ``Mamba2`` on it against
``Mamba2`` on the chunked engine."""

from __future__ import annotations

import shutil
import sysconfig

import pytest
import torch

from eegssm.nn import Mamba2, cpu_scan
from eegssm.nn.ssd import ssd_naive

needs_scan = pytest.mark.skipif(
    not cpu_scan.available(), reason=f"C recurrence not available: {cpu_scan.reason()}"
)


def _compiler() -> str | None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("cc")


def test_extension_is_built_where_a_compiler_is():
    """`pip install` builds the extension wherever a C compiler is found: a build that failed
    silently (setup.py marks it optional) would make every CPU inference 1.5-2x slower."""
    if _compiler() is None:
        pytest.skip("no C compiler here: the PyTorch path is the expected one")
    assert cpu_scan._scan is not None, (
        f"{cpu_scan._MISSING}: a C compiler is present; rebuild with `pip install -e .`"
    )


def _inputs(b, l, h, p, g, n, seed=0, dt_scale=1.0, a_scale=3.0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen)
    dt = torch.rand(b, l, h, generator=gen) * dt_scale
    A = -torch.rand(h, generator=gen) * a_scale
    B = torch.randn(b, l, g, n, generator=gen)
    C = torch.randn(b, l, g, n, generator=gen)
    D = torch.randn(h, generator=gen)
    S0 = torch.randn(b, h, p, n, generator=gen)
    return x, dt, A, B, C, D, S0


def _reference(x, dt, A, B, C, D, S0):
    d = [t.double() if t is not None else None for t in (x, dt, A, B, C, D, S0)]
    y, s = ssd_naive(*d[:5], initial_state=d[6])
    if D is not None:
        y = y + d[0] * d[5][:, None]
    return y, s


def _close(a, b, tol=2e-5):
    scale = b.abs().max().clamp_min(1.0)
    assert ((a.double() - b).abs().max() / scale).item() < tol


@needs_scan
@pytest.mark.parametrize(
    "b,l,h,p,g,n",
    [
        (2, 37, 2, 32, 1, 16),  # the bundled model's node layers (constant sizes)
        (3, 50, 2, 8, 1, 8),  # its edge layers
        (1, 17, 4, 64, 2, 64),  # groups
        (2, 1, 3, 5, 1, 7),  # generic sizes, one step
        (2, 129, 6, 3, 3, 1),  # a state of one
        (1, 300, 1, 16, 1, 16),
        (2, 130, 3, 24, 1, 40),  # state tiles in registers, sizes compiled as variables
        (1, 65, 4, 16, 2, 8),  # one step past a time block of the tiles, groups
    ],
)
def test_equals_the_reference_recurrence(b, l, h, p, g, n):
    x, dt, A, B, C, D, S0 = _inputs(b, l, h, p, g, n)
    for d, s0 in ((D, S0), (None, None)):
        y, s = cpu_scan.ssd_scan(x, dt, A, B, C, d, s0)
        ry, rs = _reference(x, dt, A, B, C, d, s0 if s0 is not None else torch.zeros_like(S0))
        assert y.dtype == torch.float32 and y.shape == x.shape and s.shape == S0.shape
        _close(y, ry)
        _close(s, rs)


@needs_scan
def test_extreme_decays_and_values():
    """dt·A of -1e4 (the state forgotten at once: exp underflows to 0, nothing non-finite), dt of
    1e-7 over 4000 steps (the state kept: decay ~1), inputs of 1e4 µV."""
    x, dt, A, B, C, D, S0 = _inputs(2, 4000, 2, 32, 1, 16, dt_scale=1e-7)
    dt[0, ::7] = 1e3
    A = torch.tensor([-10.0, -1e-3])
    x = x * 1e4
    y, s = cpu_scan.ssd_scan(x, dt, A, B, C, D, S0)
    assert torch.isfinite(y).all() and torch.isfinite(s).all()
    ry, rs = _reference(x, dt, A, B, C, D, S0)
    _close(y, ry)
    _close(s, rs)


@needs_scan
def test_column_slices_are_read_in_place():
    """x, B, C as column slices of one (b, l, h·p + 2·g·n) tensor, as Mamba2 passes them."""
    b, l, h, p, g, n = 3, 41, 2, 32, 1, 16
    xbc = torch.randn(b, l, h * p + 2 * g * n)
    x, B, C = torch.split(xbc, [h * p, g * n, g * n], dim=-1)
    x, B, C = x.view(b, l, h, p), B.view(b, l, g, n), C.view(b, l, g, n)
    assert not x.is_contiguous()
    dt = torch.rand(b, l, h)
    A = -torch.rand(h)
    y, s = cpu_scan.ssd_scan(x, dt, A, B, C)
    y2, s2 = cpu_scan.ssd_scan(x.contiguous(), dt, A, B.contiguous(), C.contiguous())
    assert torch.equal(y, y2) and torch.equal(s, s2)


@needs_scan
@pytest.mark.parametrize("threads", [1, 2, 7, 100])
def test_any_thread_count_gives_the_same_bits(threads):
    x, dt, A, B, C, D, S0 = _inputs(5, 60, 3, 8, 1, 8)
    y1, s1 = cpu_scan.ssd_scan(x, dt, A, B, C, D, S0, threads=1)
    y, s = cpu_scan.ssd_scan(x, dt, A, B, C, D, S0, threads=threads)
    assert torch.equal(y, y1) and torch.equal(s, s1)


@needs_scan
def test_state_carried_across_pieces():
    x, dt, A, B, C, D, S0 = _inputs(2, 101, 2, 32, 1, 16)
    y, s = cpu_scan.ssd_scan(x, dt, A, B, C, D, S0)
    y1, s1 = cpu_scan.ssd_scan(x[:, :40], dt[:, :40], A, B[:, :40], C[:, :40], D, S0)
    y2, s2 = cpu_scan.ssd_scan(x[:, 40:], dt[:, 40:], A, B[:, 40:], C[:, 40:], D, s1)
    assert torch.equal(torch.cat([y1, y2], 1), y) and torch.equal(s2, s)
    assert torch.equal(S0, _inputs(2, 101, 2, 32, 1, 16)[6])  # the initial state is not modified


@needs_scan
def test_empty_inputs():
    x, dt, A, B, C, D, S0 = _inputs(2, 0, 2, 8, 1, 8)
    y, s = cpu_scan.ssd_scan(x, dt, A, B, C, D, S0)
    assert y.shape == (2, 0, 2, 8) and torch.equal(s, S0)


@needs_scan
def test_bad_arguments_are_refused():
    x, dt, A, B, C, D, S0 = _inputs(2, 10, 2, 8, 1, 8)
    with pytest.raises(ValueError, match="shapes"):
        cpu_scan.ssd_scan(x, dt[:, :5], A, B, C)
    with pytest.raises(ValueError, match="float32"):
        cpu_scan.ssd_scan(x.double(), dt, A, B, C)
    with pytest.raises(ValueError, match="contiguous"):
        cpu_scan.ssd_scan(x.transpose(2, 3).contiguous().transpose(2, 3), dt, A, B, C)
    with pytest.raises(ValueError, match="groups"):
        cpu_scan.ssd_scan(x[:, :, :1].expand(2, 10, 3, 8).contiguous(),
                          dt[:, :, :1].expand(2, 10, 3).contiguous(), torch.zeros(3),
                          torch.randn(2, 10, 2, 8), torch.randn(2, 10, 2, 8))  # fmt: skip
    with pytest.raises(ValueError, match="initial_state"):
        cpu_scan.ssd_scan(x, dt, A, B, C, D, S0[:1])


def _layer(seed=0):
    torch.manual_seed(seed)
    m = Mamba2(32, d_state=16, headdim=32, chunk_size=16).eval()
    with torch.no_grad():  # a trained-looking layer: non-trivial conv bias, D and norm weight
        for prm in m.parameters():
            prm.add_(0.1 * torch.randn_like(prm))
    return m


@needs_scan
@pytest.mark.parametrize("length", [1, 15, 16, 333])
def test_mamba2_equals_the_chunked_engine(length, monkeypatch):
    """Mamba2's forward (output and state) in C (the layer between its projections in one pass)
    = on the chunked engine, from zero and from a carried state."""
    m = _layer()
    u = torch.randn(3, length, 32)
    with torch.no_grad():
        _, state = m(torch.randn(3, 7, 32), return_state=True)
        fast = [m(u, return_state=True), m(u, state, return_state=True)]
        monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
        assert not cpu_scan.usable(u)
        slow = [m(u, return_state=True), m(u, state, return_state=True)]
    for (y, s), (ry, rs) in zip(fast, slow):
        _close(y, ry.double(), 1e-5)
        _close(s.ssm, rs.ssm.double(), 1e-5)
        assert torch.equal(s.conv, rs.conv)


@needs_scan
def test_fewer_sequences_than_threads_share_each_kernel(monkeypatch):
    """One sequence on two threads (a day-long electrode swept on its own): the C kernels one
    after the other, each shared among the threads, not the one-pass layer (one sequence per
    thread); the same results as the one-pass layer on two sequences."""
    m = _layer()
    u = torch.randn(1, 300, 32)
    calls = []
    real = cpu_scan.mamba2_inner
    monkeypatch.setattr(cpu_scan, "mamba2_inner", lambda *a, **k: calls.append(1) or real(*a, **k))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            y, s = m(u, return_state=True)
            assert not calls
            y2, s2 = m(torch.cat([u, u]), return_state=True)
            assert calls == [1]
    finally:
        torch.set_num_threads(threads)
    _close(y, y2[:1].double(), 1e-5)
    _close(s.ssm, s2.ssm[:1].double(), 1e-5)
    assert torch.equal(s.conv, s2.conv[:1])


@needs_scan
def test_training_keeps_the_differentiable_path(monkeypatch):
    """With a gradient to record, Mamba2 never calls the C layer; under no_grad it does (as
    many sequences as threads: the one-pass layer)."""
    m = _layer()
    u = torch.randn(torch.get_num_threads(), 20, 32)
    calls = []
    real = cpu_scan.mamba2_inner
    monkeypatch.setattr(cpu_scan, "mamba2_inner", lambda *a, **k: calls.append(1) or real(*a, **k))
    m(u).sum().backward()
    assert not calls and m.A_log.grad is not None
    with torch.no_grad():
        m(u)
    assert calls == [1]
    assert not cpu_scan.usable(u.double()) and cpu_scan.usable(u)


# -- causal depthwise conv + SiLU -------------------------------------------------------------


def _conv_silu_reference(x, weight, bias, tail):
    """The direct formula in float64: y_t = silu(bias + sum_i w_i x_{t-k+1+i}), the inputs
    before x taken from tail (zeros when None)."""
    b, l, d = x.shape
    k = weight.shape[-1]
    before = torch.zeros(b, k - 1, d, dtype=torch.float64)
    if tail is not None:
        before = tail.double().transpose(1, 2)
    full = torch.cat([before, x.double()], dim=1)  # (b, k-1+l, d)
    w = weight[:, 0].double()  # (d, k)
    pre = sum(full[:, i : i + l] * w[:, i] for i in range(k))
    if bias is not None:
        pre = pre + bias.double()
    return pre * torch.sigmoid(pre)


@needs_scan
@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("l", [1, 2, 3, 15, 333])
@pytest.mark.parametrize("with_bias, with_tail", [(True, True), (False, False), (True, False)])
def test_conv_silu_equals_the_direct_formula(k, l, with_bias, with_tail):
    """Random inputs read as a column slice of a wider tensor, lengths shorter than the tail,
    kernels of 1-4 taps, with and without bias and tail."""
    torch.manual_seed(k * 1000 + l)
    b, d = 3, 40
    x = (torch.randn(b, l, d + 9) * 3)[..., 4 : 4 + d]
    weight = torch.randn(d, 1, k)
    bias = torch.randn(d) if with_bias else None
    tail = torch.randn(b, d, k - 1) if with_tail else None
    got = cpu_scan.causal_conv_silu(x, weight, bias, tail)
    assert got.shape == (b, l, d) and got.is_contiguous()
    _close(got, _conv_silu_reference(x, weight, bias, tail), 2e-6)


@needs_scan
@pytest.mark.parametrize("d", [32, 48, 96, 160])
@pytest.mark.parametrize("with_bias, with_tail", [(True, True), (False, False)])
def test_conv_silu_compiled_widths_equal_the_formula(d, with_bias, with_tail):
    """The widths compiled as constants (the layers of both presets, kernel 4) against the
    direct formula and against the same sums at a width compiled as a variable (the same
    channels inside a wider call)."""
    torch.manual_seed(d)
    b, l, k = 3, 70, 4
    x = torch.randn(b, l, d + 8) * 3
    weight = torch.randn(d + 8, 1, k)
    bias = torch.randn(d + 8) if with_bias else None
    tail = torch.randn(b, d + 8, k - 1) if with_tail else None
    part = (
        x[..., :d], weight[:d], None if bias is None else bias[:d],
        None if tail is None else tail[:, :d],
    )  # fmt: skip
    got = cpu_scan.causal_conv_silu(*part)
    _close(got, _conv_silu_reference(*part), 2e-6)
    assert torch.equal(got, cpu_scan.causal_conv_silu(x, weight, bias, tail)[..., :d])


@needs_scan
def test_conv_silu_extreme_values():
    """SiLU's tails (exp clamped far beyond float32's range), zero, and a NaN that stays in
    its own channel and steps."""
    v = torch.tensor([-1e4, -200.0, -88.0, -30.0, -1e-30, 0.0, 1e-30, 5.0, 87.0, 200.0, 1e4])
    x = v.reshape(1, -1, 1).repeat(1, 1, 3).contiguous()
    weight = torch.zeros(3, 1, 4)
    weight[:, 0, -1] = 1.0  # identity: y = silu(x)
    got = cpu_scan.causal_conv_silu(x, weight)
    want = (v.double() * torch.sigmoid(v.double())).float()
    assert torch.allclose(got[0, :, 0], want, rtol=3e-7, atol=1e-37)
    x[0, 3, 1] = float("nan")
    got = cpu_scan.causal_conv_silu(x, torch.ones(3, 1, 4) / 4)
    nan = torch.isnan(got)
    assert nan[0, 3:7, 1].all() and nan.sum() == 4  # the 4 steps that read it, channel 1 only


@needs_scan
def test_conv_silu_is_accurate_over_the_whole_range():
    """Relative error of silu through the exp approximation: within a few float32 ulps of the
    float64 value from -80 to 80."""
    v = torch.linspace(-80, 80, 200_001)
    weight = torch.ones(1, 1, 1)
    got = cpu_scan.causal_conv_silu(v.reshape(1, -1, 1), weight)[0, :, 0].double()
    want = v.double() * torch.sigmoid(v.double())
    rel = ((got - want).abs() / want.abs().clamp_min(1e-30)).max().item()
    assert rel < 5e-7


@needs_scan
@pytest.mark.parametrize("threads", [1, 2, 5, 64])
def test_conv_silu_any_thread_count_gives_the_same_bits(threads):
    torch.manual_seed(3)
    x, weight, bias = torch.randn(2, 501, 16), torch.randn(16, 1, 4), torch.randn(16)
    tail = torch.randn(2, 16, 3)
    one = cpu_scan.causal_conv_silu(x, weight, bias, tail, threads=1)
    assert torch.equal(cpu_scan.causal_conv_silu(x, weight, bias, tail, threads=threads), one)


@needs_scan
def test_conv_silu_refuses_what_it_cannot_take():
    x = torch.randn(2, 10, 8)
    with pytest.raises(ValueError, match="weight must be"):
        cpu_scan.causal_conv_silu(x, torch.randn(7, 1, 4))
    with pytest.raises(ValueError, match="tail must be"):
        cpu_scan.causal_conv_silu(x, torch.randn(8, 1, 4), tail=torch.randn(2, 8, 2))
    with pytest.raises(ValueError, match="float32"):
        cpu_scan.causal_conv_silu(x.double(), torch.randn(8, 1, 4))
    with pytest.raises(ValueError, match="contiguous"):
        cpu_scan.causal_conv_silu(torch.randn(2, 8, 10).transpose(1, 2), torch.randn(8, 1, 4))
    assert cpu_scan.causal_conv_silu(torch.randn(0, 5, 8), torch.randn(8, 1, 4)).shape == (0, 5, 8)
    assert cpu_scan.causal_conv_silu(torch.randn(2, 0, 8), torch.randn(8, 1, 4)).shape == (2, 0, 8)


# --- gated RMSNorm -------------------------------------------------------------------------


def _norm_reference(x, z, w, group_size, eps, before):
    """The norm's formula in float64, straight from its definition."""
    x, z, w = x.double(), z.double(), w.double()
    shape = (*x.shape[:-1], x.shape[-1] // group_size, group_size)
    xg, zg = x.reshape(shape), z.reshape(shape)
    gate = zg * torch.sigmoid(zg)
    u = xg if before else xg * gate
    out = u / torch.sqrt(u.square().mean(-1, keepdim=True) + eps) * w.view(-1, group_size)
    return (out * gate if before else out).reshape(x.shape)


@needs_scan
@pytest.mark.parametrize("before", [False, True])
@pytest.mark.parametrize("d, group_size", [(64, 64), (64, 16), (16, 16), (13, 13), (21, 7), (1, 1)])
@pytest.mark.parametrize("rows", [0, 1, 3, 1000])
def test_gated_rmsnorm_equals_the_formula(before, d, group_size, rows):
    g = torch.Generator().manual_seed(rows * 100 + d)
    x = torch.randn(rows, d, generator=g) * 3
    z = torch.randn(rows, d, generator=g) * 4
    w = torch.randn(d, generator=g)
    got = cpu_scan.gated_rmsnorm(x, z, w, group_size, 1e-5, before)
    want = _norm_reference(x, z, w, group_size, 1e-5, before)
    assert got.shape == x.shape and got.dtype == torch.float32 and got.is_contiguous()
    torch.testing.assert_close(got.double(), want, rtol=2e-6, atol=2e-6)


@needs_scan
@pytest.mark.parametrize("before", [False, True])
def test_gated_rmsnorm_extreme_values_and_column_slices(before):
    g = torch.Generator().manual_seed(3)
    scale = torch.logspace(-15, 15, 31).repeat_interleave(4)[:, None]  # (124, 1) row scales
    wide = torch.randn(124, 3 * 40, generator=g)
    x = wide[:, 5:45] * scale  # rows 120 floats apart: read in place
    z = wide[:, 60:100] * 30  # gates from silu(-90) ~ 0 to silu(90) = 90
    w = torch.randn(40, generator=g)
    got = cpu_scan.gated_rmsnorm(x, z, w, 20, 1e-5, before)
    want = _norm_reference(x, z, w, 20, 1e-5, before)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=1e-6)


@needs_scan
@pytest.mark.parametrize("threads", [1, 2, 3, 64])
def test_gated_rmsnorm_any_thread_count_gives_the_same_bits(threads):
    g = torch.Generator().manual_seed(4)
    x, z, w = torch.randn(2001, 64, generator=g), torch.randn(2001, 64, generator=g), torch.rand(64)
    one = cpu_scan.gated_rmsnorm(x, z, w, 64, threads=1)
    assert torch.equal(cpu_scan.gated_rmsnorm(x, z, w, 64, threads=threads), one)


@needs_scan
@pytest.mark.parametrize("before", [False, True])
def test_rmsnorm_gated_uses_it_for_inference_only(before, monkeypatch):
    from eegssm.nn.norm import RMSNormGated

    torch.manual_seed(0)
    norm = RMSNormGated(64, 32, norm_before_gate=before)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x, z = torch.randn(5, 77, 64), torch.randn(5, 77, 64)
    calls = []
    real = cpu_scan.gated_rmsnorm
    monkeypatch.setattr(cpu_scan, "gated_rmsnorm", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.no_grad():
        fast = norm(x, z)
    assert calls == [1]
    monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    with torch.no_grad():
        plain = norm(x, z)
    torch.testing.assert_close(fast, plain, rtol=2e-6, atol=2e-6)
    monkeypatch.delenv("EEGSSM_DISABLE_KERNELS")
    x.requires_grad_(True)
    norm(x, z).sum().backward()  # training: the differentiable path, no C call
    assert calls == [1] and x.grad is not None


@needs_scan
def test_gated_rmsnorm_refuses_what_it_cannot_take():
    x = torch.randn(4, 8)
    with pytest.raises(ValueError, match="do not fit"):
        cpu_scan.gated_rmsnorm(x, torch.randn(4, 7), torch.ones(8), 8)
    with pytest.raises(ValueError, match="do not fit"):
        cpu_scan.gated_rmsnorm(x, x, torch.ones(8), 3)
    with pytest.raises(ValueError, match="float32"):
        cpu_scan.gated_rmsnorm(x.double(), x.double(), torch.ones(8), 8)
    with pytest.raises(ValueError, match="contiguous"):
        cpu_scan.gated_rmsnorm(torch.randn(8, 4).t(), x, torch.ones(8), 8)
