"""TCN front end: padding arithmetic, receptive fields measured by gradients, causality."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eegssm.nn.tcn import TCN, PaddedConv1d, TCNEncoder, tcn_receptive_field


def influence(model: torch.nn.Module, x: torch.Tensor, frame: int) -> torch.Tensor:
    """Input sample indices whose gradient on output ``frame`` is non-zero."""
    x = x.clone().requires_grad_(True)
    model(x)[..., frame].sum().backward()
    return torch.nonzero(x.grad.abs().sum(dim=(0, 1))).flatten()


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("stride", [1, 4, 8])
def test_padded_conv_length(causal, stride):
    conv = PaddedConv1d(3, 5, 2 * stride if stride > 1 else 7, stride=stride, causal=causal)
    assert conv(torch.randn(2, 3, 64)).shape == (2, 5, 64 // stride)


def test_receptive_field_formula():
    assert tcn_receptive_field(7, [2**i for i in range(8)]) == 1 + 2 * 6 * 255 == 3061
    assert TCN(19, (64,) * 8).receptive_field == 3061


@pytest.mark.parametrize("causal", [False, True])
def test_tcn_receptive_field_by_gradient(causal):
    torch.manual_seed(0)
    tcn = TCN(2, (4, 6, 4), kernel_size=5, dilations=(1, 3, 2), causal=causal)
    rf = tcn.receptive_field
    assert rf == 1 + 2 * 4 * 6
    t = 100
    idx = influence(tcn, torch.randn(1, 2, 200), t)
    assert idx.numel() == rf  # contiguous span of exactly rf samples
    assert int(idx.max() - idx.min()) + 1 == rf
    if causal:
        assert int(idx.max()) == t
    else:
        assert int(idx.min()) == t - (rf - 1) // 2


@pytest.mark.parametrize("causal", [False, True])
def test_encoder_receptive_field_and_stride(causal):
    torch.manual_seed(0)
    enc = TCNEncoder(
        1,
        8,
        (8, 8),
        7,
        (1, 2),
        stem_channels=(4, 8),
        stem_strides=(4, 2),
        downsample=2,
        causal=causal,
    )
    assert enc.stride == 16
    # stem: (8-1)*1 + (4-1)*4; TCN at jump 8: 2*(7-1)*(1+2)*8; downsample: (2-1)*8
    assert enc.receptive_field == 1 + 7 + 12 + 288 + 8
    frame = 40
    idx = influence(enc, torch.randn(1, 1, 1280), frame)
    assert int(idx.max() - idx.min()) + 1 == enc.receptive_field
    if causal:  # frame j depends on samples <= S*(j+1) - 1, no later
        assert int(idx.max()) == 16 * (frame + 1) - 1


def test_published_encoder_shape():
    enc = TCNEncoder(19, 512)  # defaults: 8 blocks 64..512, kernel 7, dilations 1..128, 16x down
    assert enc.tcn.dilations == tuple(2**i for i in range(8))
    assert enc.stride == 16
    with torch.inference_mode():
        assert enc(torch.randn(1, 19, 1024)).shape == (1, 512, 64)
    with pytest.raises(ValueError, match="multiple of the stride"):
        enc(torch.randn(1, 19, 1000))


@pytest.mark.parametrize("dilation", [2, 3, 4, 16])
@pytest.mark.parametrize("T", [1, 5, 37, 200])
@pytest.mark.parametrize("pad", [(0, 0), (6, 6), (12, 0), (5, 7), (0, 9)])
def test_dilated_by_phases_equals_the_dilated_convolution(dilation, T, pad):
    from eegssm.nn.tcn import dilated_by_phases

    g = torch.Generator().manual_seed(T * 100 + dilation)
    x = torch.randn(3, 4, T, generator=g, dtype=torch.float64) * 1e3
    w = torch.randn(5, 4, 7, generator=g, dtype=torch.float64)
    b = torch.randn(5, generator=g, dtype=torch.float64)
    want = F.conv1d(F.pad(x, pad), w, b, dilation=dilation) if T + sum(pad) > 6 * dilation else None
    if want is None:  # shorter than the kernel's reach: no output, as F.conv1d would refuse
        with pytest.raises(RuntimeError):
            dilated_by_phases(x, w, b, dilation, *pad)
        return
    got = dilated_by_phases(x, w, b, dilation, *pad)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("causal", [False, True])
def test_padded_dilated_conv_forward_and_gradient_match_the_plain_convolution(causal):
    torch.manual_seed(0)
    conv = PaddedConv1d(6, 8, 7, dilation=4, causal=causal).double()
    x = torch.randn(2, 6, 101, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    ref = F.conv1d(F.pad(x, conv.pad), conv.weight, conv.bias, dilation=4)
    torch.testing.assert_close(y, ref)
    g = torch.randn_like(y)
    (dx,) = torch.autograd.grad(y, x, g)
    (dx_ref,) = torch.autograd.grad(ref, x, g)
    torch.testing.assert_close(dx, dx_ref)
