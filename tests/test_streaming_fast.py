"""The short-piece fast paths of streaming (``eegssm monitor``) against the slow references:
``ssd_short`` vs the recurrence, ``Mamba2.forward_stream`` and the lean depthwise conv vs the
whole-sequence ``forward``, the encoder's one-GEMM convolutions vs ``F.conv1d``, and the
detector streamed in pieces of awkward sizes (1 frame, odd frame counts, pieces that switch
between the fast path and the chunked engine) vs the offline model on the whole recording."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eegssm.models.detector import SeizureDetector
from eegssm.nn import Mamba2, tcn
from eegssm.nn.conv import CausalDepthwiseConv1d
from eegssm.nn.graph import (
    dynamic_graph_pe,
    dynamic_graph_pe_stream,
    pairs_to_adjacency,
    topk_adjacency,
)
from eegssm.nn.norm import RMSNormGated
from eegssm.nn.ssd import ssd_naive, ssd_short
from eegssm.nn.tcn import PaddedConv1d, TCNEncoder, conv1d_channels_last, conv1d_taps
from eegssm.streaming import StreamingDetector

from _reference import rel_err


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _ssd_inputs(b, l, h, p, g, n, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=gen, dtype=dtype)

    dt = F.softplus(r(b, l, h) - 1)
    A = -torch.exp(r(h))
    return r(b, l, h, p), dt, A, r(b, l, g, n), r(b, l, g, n), r(b, h, p, n), r(h)


@pytest.mark.parametrize(
    "b, l, h, p, g, n",
    [(1, 1, 1, 1, 1, 1), (3, 1, 2, 4, 1, 8), (2, 5, 4, 3, 2, 6), (19, 4, 2, 32, 1, 16),
     (2, 16, 4, 8, 4, 5), (171, 1, 2, 8, 1, 8), (2, 7, 6, 5, 3, 4)],
)  # fmt: skip
@pytest.mark.parametrize("with_initial", [False, True])
def test_ssd_short_equals_the_recurrence(b, l, h, p, g, n, with_initial):
    x, dt, A, B, C, S0, D = _ssd_inputs(b, l, h, p, g, n)
    S0 = S0 if with_initial else None
    y, final = ssd_short(x, dt, A, B, C, S0, D=D)
    y_ref, final_ref = ssd_naive(x, dt, A, B, C, S0)
    y_ref = y_ref + x * D[:, None]
    assert y.shape == y_ref.shape and final.shape == final_ref.shape
    assert rel_err(y, y_ref) <= 1e-5
    assert rel_err(final, final_ref) <= 1e-5


def test_ssd_short_float64_and_large_decays():
    """float64 stays float64; steps with a huge decay (``|A·dt|`` ~ 1e3) stay finite."""
    x, dt, A, B, C, S0, D = _ssd_inputs(2, 6, 4, 3, 2, 5, dtype=torch.float64, seed=1)
    dt[:, 2] = 50.0
    A = A * 20
    y, final = ssd_short(x, dt, A, B, C, S0, D=D)
    y_ref, final_ref = ssd_naive(x, dt, A, B, C, S0)
    assert y.dtype == torch.float64 and final.dtype == torch.float64
    assert torch.isfinite(y).all() and torch.isfinite(final).all()
    assert rel_err(y, y_ref + x * D[:, None]) <= 1e-10
    assert rel_err(final, final_ref) <= 1e-10


def _mamba(ngroups=1, headdim=16, chunk=8, seed=0):
    torch.manual_seed(seed)
    m = Mamba2(32, d_state=8, headdim=headdim, ngroups=ngroups, chunk_size=chunk)
    with torch.no_grad():  # non-trivial conv bias and norm weight
        m.conv1d.conv.bias.normal_()
        m.norm.weight.uniform_(0.5, 1.5)
    return m.eval()


@pytest.mark.parametrize("c_kernels", [True, False])
@pytest.mark.parametrize("ngroups, headdim", [(1, 16), (2, 8), (4, 16), (1, 4)])
def test_mamba2_forward_stream_pieces_equal_whole(ngroups, headdim, c_kernels, monkeypatch):
    """Pieces of 1, odd and chunk-sized lengths (fast path: the layer in one C call on one
    thread where the kernels are built, else ``ssd_short``) and longer than a chunk (through
    ``forward``: the same C call on PyTorch's threads, else the engine) in one stream, the
    state handed from one path to the other. Head width 4: the recurrence without register
    tiles."""
    from eegssm.nn import cpu_scan

    if c_kernels and not cpu_scan.available():
        pytest.skip(f"C kernels not available: {cpu_scan.reason()}")
    if not c_kernels:
        monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    threads = []
    real = cpu_scan.mamba2_inner

    def counted(*a, **k):
        threads.append(k.get("threads", a[14] if len(a) > 14 else None))
        return real(*a, **k)

    monkeypatch.setattr(cpu_scan, "mamba2_inner", counted)
    m = _mamba(ngroups, headdim)
    x = torch.randn(3, 80, 32)
    sizes = [1, 3, 8, 1, 1, 5, 9, 2, 20, 7, 1, 22]  # chunk_size 8: 9, 20, 22 take forward
    assert sum(sizes) == x.shape[1]
    with torch.no_grad():
        whole, final = m(x, return_state=True)
        threads.clear()  # from here on, the stream's calls only
        outs, state, t = [], None, 0
        for size in sizes:
            y, state = m.forward_stream(x[:, t : t + size], state)
            outs.append(y)
            t += size
    assert rel_err(torch.cat(outs, dim=1), whole) <= 1e-5
    assert rel_err(state.ssm, final.ssm) <= 1e-5
    assert rel_err(state.conv, final.conv) <= 1e-6
    short = [1 if n <= 8 else None for n in sizes]  # one thread for short pieces
    assert threads == (short if c_kernels else [])  # every piece, short or long, in C


@pytest.mark.parametrize("conv_bias", [True, False])
@pytest.mark.parametrize("length", [5, 300, 517])
def test_mamba2_inner_equals_the_layer_in_pytorch(conv_bias, length, monkeypatch):
    """The layer in one C pass against the same layer in PyTorch (``EEGSSM_DISABLE_KERNELS``:
    the chunked SSD and PyTorch's conv, softplus and norm): from the zero state and from a
    carried one, lengths shorter than a block of steps and across blocks (256), with and
    without a conv bias, softplus beyond its threshold; the carried state is not modified."""
    from eegssm.nn import cpu_scan

    if not cpu_scan.available():
        pytest.skip(f"C kernels not available: {cpu_scan.reason()}")
    torch.manual_seed(3)
    m = Mamba2(32, d_state=16, headdim=32, chunk_size=16, conv_bias=conv_bias).eval()
    with torch.no_grad():
        m.norm.weight.uniform_(0.5, 1.5)
        m.dt_bias.add_(torch.tensor([25.0, -3.0]))  # softplus beyond its threshold of 20
    x = torch.randn(5, length, 32) * 3
    cut = length // 3
    with torch.no_grad():
        y1, s1 = m(x[:, :cut], return_state=True)
        kept = (s1.conv.clone(), s1.ssm.clone())
        y2, s2 = m(x[:, cut:], s1, return_state=True)
        assert torch.equal(s1.conv, kept[0]) and torch.equal(s1.ssm, kept[1])
        monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
        r1, t1 = m(x[:, :cut], return_state=True)
        r2, t2 = m(x[:, cut:], t1, return_state=True)
    for got, ref in ((y1, r1), (y2, r2), (s2.ssm, t2.ssm)):
        assert rel_err(got, ref) <= 1e-5
    assert torch.equal(s2.conv, t2.conv)


def test_mamba2_inner_any_thread_count_gives_the_same_bits():
    from eegssm.nn import cpu_scan

    if not cpu_scan.available():
        pytest.skip(f"C kernels not available: {cpu_scan.reason()}")
    m = _mamba()
    z, xbc, dt = m._project(torch.randn(7, 300, 32))
    with torch.no_grad():
        one = m._inner(z, xbc, dt, None, None, threads=1)
        for threads in (2, 3, 50):
            assert all(
                torch.equal(a, b) for a, b in zip(one, m._inner(z, xbc, dt, None, None, threads))
            )


def test_mamba2_inner_refuses_what_it_cannot_take():
    from eegssm.nn import cpu_scan

    if not cpu_scan.available():
        pytest.skip(f"C kernels not available: {cpu_scan.reason()}")
    m = _mamba()
    conv = m.conv1d.conv
    with torch.no_grad():
        z, xbc, dt = m._project(torch.randn(2, 3, 32))

    def inner(z=z, xbc=xbc, tail=None, state=None):
        return cpu_scan.mamba2_inner(
            z, xbc, dt, conv.weight, conv.bias, tail, m.dt_bias, m.A_log, m.D, state,
            m.norm.weight, m.norm.group_size, m.norm.eps, m.ngroups,
        )  # fmt: skip

    y, tail, state = inner()
    assert y.shape == (2, 3, m.d_inner) and tail.shape == (2, conv.out_channels, 3)
    with pytest.raises(ValueError, match="do not fit"):
        inner(xbc=xbc[..., :-1])
    with pytest.raises(ValueError, match="tail"):
        inner(tail=torch.zeros(2, conv.out_channels, 2))
    with pytest.raises(ValueError, match="float32"):
        inner(z=z.double())


def test_mamba2_forward_stream_equals_step_and_is_differentiable():
    m = _mamba()
    x = torch.randn(2, 5, 32, requires_grad=True)
    y, state = m.forward_stream(x)
    with torch.no_grad():
        s, ys = m.empty_state(2), []
        for t in range(5):
            y_t, s = m.step(x[:, t], s)
            ys.append(y_t)
    assert rel_err(y.detach(), torch.stack(ys, 1)) <= 1e-5
    assert rel_err(state.ssm.detach(), s.ssm) <= 1e-5
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("k", [1, 2, 4, 5])
def test_depthwise_conv_forward_stream_equals_forward(k):
    torch.manual_seed(k)
    conv = CausalDepthwiseConv1d(12, k)
    x = torch.randn(2, 30, 12)
    with torch.no_grad():
        whole, final_tail = conv(x)
        outs, tail, t = [], None, 0
        for size in (1, 2, 5, 1, 3, 11, 7):
            y, tail = conv.forward_stream(x[:, t : t + size], tail)
            outs.append(y)
            t += size
    assert rel_err(torch.cat(outs, 1), whole) <= 1e-6
    assert tail.shape == final_tail.shape and rel_err(tail, final_tail) <= 1e-7


@pytest.mark.parametrize(
    "c_in, c_out, k, stride, dilation, length",
    [(1, 16, 16, 8, 1, 256 + 8), (16, 32, 16, 8, 1, 32 + 8), (32, 32, 7, 1, 4, 4 + 24),
     (5, 3, 3, 2, 3, 9), (4, 6, 1, 1, 1, 1), (3, 3, 5, 1, 2, 9)],
)  # fmt: skip
def test_conv1d_taps_equals_conv1d(c_in, c_out, k, stride, dilation, length):
    torch.manual_seed(0)
    conv = torch.nn.Conv1d(c_in, c_out, k, stride=stride, dilation=dilation)
    x = torch.randn(7, c_in, length)
    with torch.no_grad():
        y = conv1d_taps(x.transpose(1, 2), conv)  # channels-last in and out
        ref = conv(x).transpose(1, 2)
        slow = conv1d_channels_last(x.transpose(1, 2), conv)
    assert y is not None and y.shape == ref.shape
    assert rel_err(y, ref) <= 1e-5 and rel_err(slow, ref) <= 1e-5


def test_conv1d_taps_declines_large_and_grouped(monkeypatch):
    """Then ``conv1d_channels_last`` falls back to ``F.conv1d`` (same results)."""
    conv = torch.nn.Conv1d(4, 4, 3)
    grouped = torch.nn.Conv1d(4, 4, 3, groups=2)
    x = torch.randn(2, 10, 4)  # (B, T, C_in)
    assert conv1d_taps(x[:, :2], conv) is None  # no output frame
    assert conv1d_taps(x, grouped) is None
    with torch.no_grad():
        ref = grouped(x.transpose(1, 2)).transpose(1, 2)
        assert rel_err(conv1d_channels_last(x, grouped), ref) <= 1e-6
        assert conv1d_taps(x, conv) is not None
        monkeypatch.setattr(tcn, "STREAM_GEMM_ELEMENTS", 2 * 8 * 4 * 3 - 1)
        assert conv1d_taps(x, conv) is None  # 2·8·4·3 tap elements
        ref = conv(x.transpose(1, 2)).transpose(1, 2)
        assert rel_err(conv1d_channels_last(x, conv), ref) <= 1e-6


@pytest.mark.parametrize("gemm_limit", [tcn.STREAM_GEMM_ELEMENTS, 0])
def test_encoder_stream_pieces_equal_whole(gemm_limit, monkeypatch):
    """The causal encoder (stem, TCN with a 1×1 residual, downsampling) in pieces of 1, 3 and 7
    frames equals its whole-sequence forward, with the one-GEMM convolutions (default) and
    with ``F.conv1d`` everywhere (limit 0)."""
    monkeypatch.setattr(tcn, "STREAM_GEMM_ELEMENTS", gemm_limit)
    torch.manual_seed(0)
    enc = TCNEncoder(1, 8, (6, 8), 3, (1, 2), (4, 6), (4, 2), downsample=2, causal=True).eval()
    S = enc.stride  # 16
    x = torch.randn(5, 1, 40 * S)
    with torch.no_grad():
        whole = enc(x)
        outs, state, t = [], None, 0
        for frames in (1, 3, 7, 1, 1, 27):
            y, state = enc.forward_stream(x[..., t : t + frames * S], state)
            outs.append(y)
            t += frames * S
    assert rel_err(torch.cat(outs, -1), whole) <= 1e-5


@pytest.mark.parametrize("gemm_limit", [tcn.STREAM_GEMM_ELEMENTS, 0])
@pytest.mark.parametrize("stride", [1, 2])
def test_padded_conv_stream_pieces_equal_whole(gemm_limit, stride, monkeypatch):
    """Both layouts of ``forward_stream``, both convolution paths, a 1-output piece."""
    monkeypatch.setattr(tcn, "STREAM_GEMM_ELEMENTS", gemm_limit)
    torch.manual_seed(0)
    conv = PaddedConv1d(3, 4, 5, stride=stride, dilation=2, causal=True)
    x = torch.randn(2, 3, 50)
    cuts = [0, stride, 20, 50]
    with torch.no_grad():
        whole = conv(x)
        ncl, nlc, t_ncl, t_nlc = [], [], None, None
        for a, b in zip(cuts, cuts[1:]):
            y, t_ncl = conv.forward_stream(x[..., a:b], t_ncl)
            ncl.append(y)
            y, t_nlc = conv.forward_stream(x[..., a:b].transpose(1, 2), t_nlc, channels_last=True)
            nlc.append(y)
    assert t_ncl.shape == (2, 3, conv.pad[0]) and t_nlc.shape == (2, conv.pad[0], 3)
    assert rel_err(torch.cat(ncl, -1), whole) <= 1e-5
    assert rel_err(torch.cat(nlc, 1).transpose(1, 2), whole) <= 1e-5


def _detector(core="mamba2", seed=0) -> SeizureDetector:
    torch.manual_seed(seed)
    model = SeizureDetector.from_preset(
        "fast",
        core=core,
        causal=True,
        tcn_channels=(16, 24),  # 16 → 24: a 1×1 residual conv
        tcn_dilations=(1, 2),
        d_node=16,
        node_layers=2,
        node_headdim=16,
        node_chunk=8,
        edge_chunk=4,
        readout_dim=16,
        decoder_channels=(16, 8, 8),
    )
    return model.eval()


@pytest.mark.parametrize("core", ["mamba2", "gated_deltanet"])
def test_detector_streamed_in_awkward_pieces_equals_offline(core):
    """Frames one at a time, odd frame counts, and pieces longer than the node and edge
    chunks (fast path ↔ chunked engine hand-off), in one stream."""
    model = _detector(core)
    S = model.config.stride
    rng = np.random.default_rng(2)
    frames = [1, 1, 3, 7, 1, 5, 13, 2, 40, 1, 9, 33, 4, 1]
    x = rng.standard_normal((19, sum(frames) * S)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)[None])[0]
        outs, state, t = [], None, 0
        for f in frames:
            y, state = model.forward_stream(torch.from_numpy(x[:, t : t + f * S])[None], state)
            outs.append(y[0])
            t += f * S
    out = torch.cat(outs)
    assert out.shape == ref.shape
    # probabilities, as test_streaming: this random Gated DeltaNet detector is itself sensitive
    # to round-off (its offline logits move by ~1e-4 when the input is scaled by 1 + 1e-7·noise,
    # top-k ties of the edge weights), the Mamba-2 one by ~1e-7
    diff = (torch.sigmoid(out) - torch.sigmoid(ref)).abs().max()
    assert diff < (1e-4 if core == "gated_deltanet" else 1e-5), diff


def test_streaming_detector_samples_at_a_time():
    """Chunks of arbitrary sample counts (buffered to whole frames) equal the offline model."""
    model = _detector(seed=3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((19, 30 * 256 + 11)).astype(np.float32)
    with torch.no_grad():
        ref = torch.sigmoid(model(torch.from_numpy(x)[None]))[0].numpy()
    det, outs, t = StreamingDetector(model), [], 0
    for n in rng.integers(1, 700, size=1000):
        if t >= x.shape[1]:
            break
        outs.append(det.push(x[:, t : t + n]))
        t += n
    outs.append(det.flush())
    out = np.concatenate(outs)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-5


@pytest.mark.parametrize("before", [False, True])
@pytest.mark.parametrize("group_size", [4, 16])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gated_rmsnorm_forward_plain_equals_forward(before, group_size, dtype):
    torch.manual_seed(group_size)
    norm = RMSNormGated(16, group_size=group_size, norm_before_gate=before).to(dtype)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x, z = torch.randn(2, 3, 5, 16, dtype=dtype), torch.randn(2, 3, 5, 16, dtype=dtype)
    with torch.no_grad():
        out, ref = norm.forward_plain(x, z), norm(x, z)
    assert out.dtype == dtype and out.shape == ref.shape
    assert rel_err(out, ref) <= (1e-6 if dtype == torch.float32 else 1e-12)


@pytest.mark.parametrize("interval", [1, 3, 5])
@pytest.mark.parametrize("project", [False, True])
def test_graph_pe_stream_pieces_equal_dynamic_pe(interval, project):
    """Pieces of 1 step, pieces with no recomputed step, pieces across several recomputes,
    with the projection applied to the recomputed PEs only (as the graph stream does)."""
    torch.manual_seed(interval)
    adj = topk_adjacency(pairs_to_adjacency(torch.rand(2, 31, 19 * 18 // 2), 19), 3)
    proj = torch.nn.Linear(16, 8) if project else None
    with torch.no_grad():
        ref = dynamic_graph_pe(adj, 16, interval, "heat", project=proj)
        pieces, last, step = [], None, 0
        for n in (1, 1, 2, 1, 7, 3, 1, 11, 4):
            pe, last = dynamic_graph_pe_stream(
                adj[:, step : step + n], step, last, 16, interval, "heat", project=proj
            )
            pieces.append(pe)
            step += n
    assert step == adj.shape[1]
    torch.testing.assert_close(torch.cat(pieces, 1), ref, atol=1e-6, rtol=0)


def test_ssd_short_accepts_non_contiguous_inputs():
    """Views as ``Mamba2`` passes them (slices of one projection) and a transposed state."""
    *_, A, _, _, _, D = _ssd_inputs(3, 1, 4, 5, 2, 6)
    for l in (1, 3):
        xbc = torch.randn(3, l, 4 * 5 + 2 * 2 * 6)
        xs = xbc[..., :20].reshape(3, l, 4, 5)
        Bs = xbc[..., 20:32].reshape(3, l, 2, 6)
        Cs = xbc[..., 32:].reshape(3, l, 2, 6)
        dts = F.softplus(torch.randn(3, l, 4))
        S = torch.randn(3, 4, 6, 5).transpose(-1, -2)  # (b, h, p, n), not contiguous
        y, final = ssd_short(xs, dts, A, Bs, Cs, S, D=D)
        y_ref, final_ref = ssd_naive(xs, dts, A, Bs, Cs, S)
        assert rel_err(y, y_ref + xs * D[:, None]) <= 1e-5
        assert rel_err(final, final_ref) <= 1e-5
