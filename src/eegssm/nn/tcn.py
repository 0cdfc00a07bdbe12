"""TCN front end: strided conv stem → dilated residual blocks → strided downsampling.

Signals are ``(B, C, T)``. Every convolution is either *centred* (``causal=False``, "same"
padding) or *causal* (``causal=True``, left padding only: output ``t`` sees inputs ``<= t``).
Strided convolutions (stem and downsampling) are causal at the frame level in both modes' causal
variant: frame ``j`` of an encoder with total stride ``S`` depends on input samples
``<= S·(j+1) - 1`` (the end of its own frame), never on later frames.

The receptive field of one output frame, in input samples, follows from composing the layers::

    rf = 1;  jump = 1
    for each conv (kernel k, dilation d, stride s):  rf += (k - 1)·d·jump;  jump *= s

For a stride-1 TCN with two convolutions per block this is ``1 + 2·(k - 1)·sum(dilations)``
(kernel 7, dilations 1…128: 3061 samples, about 12 s at 256 Hz).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.models.detector_config import encoder_receptive_field
from eegssm.nn.activation import gelu


def tcn_receptive_field(
    kernel_size: int, dilations: Sequence[int], convs_per_block: int = 2
) -> int:
    """Receptive field (samples) of a stride-1 TCN: ``1 + convs_per_block·(k-1)·sum(dilations)``."""
    return 1 + convs_per_block * (kernel_size - 1) * sum(dilations)


#: Largest tap matrix (elements, ``B · outputs · C_in · k``) for which a streamed piece is
#: convolved as one GEMM (:func:`conv1d_taps`) rather than by ``F.conv1d``: a streamed chunk of
#: a few frames is far below it, a whole recording far above (the tap matrix holds every input
#: ``k / stride`` times).
STREAM_GEMM_ELEMENTS = 1 << 18


def conv1d_taps(x: Tensor, conv: nn.Conv1d) -> Tensor | None:
    """``conv`` (no padding) on a channels-last input, as one GEMM on the gathered taps.

    For a few output frames ``F.conv1d`` costs several times its arithmetic in fixed
    overhead; gathering the ``k`` taps of every output (a strided view, then one copy) and
    multiplying by the weight seen as ``(C_out, C_in · k)`` is the same sum in one GEMM.

    Shapes: ``x (B, T, C_in)`` → ``(B, T_out, C_out)``, or None when the taps would exceed
    ``STREAM_GEMM_ELEMENTS`` or the convolution is grouped (then use ``F.conv1d``).
    """
    (k,), (s,), (d,) = conv.kernel_size, conv.stride, conv.dilation
    B, T, c_in = x.shape
    n_out = (T - (k - 1) * d - 1) // s + 1
    if conv.groups != 1 or n_out < 1 or B * n_out * c_in * k > STREAM_GEMM_ELEMENTS:
        return None
    taps = x.unfold(1, (k - 1) * d + 1, s)[..., ::d]  # (B, T_out, C_in, k)
    w = conv.weight.reshape(conv.out_channels, c_in * k)
    return F.linear(taps.reshape(B * n_out, c_in * k), w, conv.bias).view(B, n_out, -1)


def conv1d_channels_last(x: Tensor, conv: nn.Conv1d) -> Tensor:
    """``conv`` (its own padding ignored: none) on ``x (B, T, C_in)`` → ``(B, T_out, C_out)``:
    one GEMM for short inputs (:func:`conv1d_taps`), else ``F.conv1d``."""
    y = conv1d_taps(x, conv)
    if y is None:
        y = F.conv1d(x.transpose(1, 2), conv.weight, conv.bias, conv.stride, 0, conv.dilation,
                     conv.groups).transpose(1, 2)  # fmt: skip
    return y


def dilated_by_phases(
    x: Tensor, weight: Tensor, bias: Tensor | None, dilation: int, left: int, right: int
) -> Tensor:
    """``F.conv1d(F.pad(x, (left, right)), weight, bias, dilation=dilation)`` (stride 1) as one
    undilated convolution of the ``dilation`` interleaved phases of the input.

    Output ``t`` reads the padded input at ``t + i·d`` (tap ``i``), all in phase ``t mod d``:
    the padded input cut into rows of ``d`` samples and transposed is a batch of ``d``
    sequences, each convolved with the taps side by side (dilation 1), and the outputs
    interleaved back. The same sums; oneDNN runs a dilated convolution on a CPU about
    2× slower than an undilated one of the same size (measured for the TCN's 32 channels,
    kernel 7), which is more than the two reshuffling copies cost.

    Shapes: ``x (B, C_in, T)``, ``weight (C_out, C_in, k)`` → ``(B, C_out, T + left + right -
    (k - 1)·dilation)``.
    """
    B, c_in, T = x.shape
    k = weight.shape[-1]
    n_out = T + left + right - (k - 1) * dilation
    if n_out < 1:
        return F.conv1d(F.pad(x, (left, right)), weight, bias, dilation=dilation)
    rows = -(-(n_out + (k - 1) * dilation) // dilation)  # padded length in rows of d samples
    padded = F.pad(x, (left, rows * dilation - T - left))
    phases = padded.view(B, c_in, rows, dilation).permute(0, 3, 1, 2).reshape(-1, c_in, rows)
    y = F.conv1d(phases, weight, bias)  # (B·d, C_out, rows - k + 1)
    c_out, n = y.shape[1], y.shape[2]
    y = y.view(B, dilation, c_out, n).permute(0, 2, 3, 1).reshape(B, c_out, n * dilation)
    return y[..., :n_out]


class PaddedConv1d(nn.Conv1d):
    """``nn.Conv1d`` with centred ("same") or causal padding applied in ``forward``.

    With stride ``s`` the total padding is ``(k - 1)·d - (s - 1)`` so that an input of length
    ``T`` (a multiple of ``s``) gives exactly ``T / s`` outputs; causal puts all of it on the left.

    Shapes: ``(B, C_in, T)`` → ``(B, C_out, T / stride)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        dilation: int = 1,
        causal: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, dilation=dilation, bias=bias
        )
        total = (kernel_size - 1) * dilation - (stride - 1)
        if total < 0:
            raise ValueError(
                f"kernel {kernel_size}·dilation {dilation} shorter than stride {stride}"
            )
        self.causal = causal
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)

    def forward(self, x: Tensor) -> Tensor:
        left, right = self.pad
        (d,), (s,) = self.dilation, self.stride
        if d > 1 and s == 1 and self.groups == 1 and x.device.type == "cpu":
            return dilated_by_phases(x, self.weight, self.bias, d, left, right)
        if left == right:  # the convolution pads itself (no padded copy of the input)
            return F.conv1d(
                x, self.weight, self.bias, self.stride, left, self.dilation, self.groups
            )
        return super().forward(F.pad(x, self.pad))

    def forward_stream(
        self, x: Tensor, tail: Tensor | None = None, channels_last: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Causal convolution of the next piece of a sequence, carrying the left context.

        Args:
            x: ``(B, C_in, n)``, ``n`` a multiple of the stride; ``(B, n, C_in)`` with
                ``channels_last`` (what the streaming encoder and decoder use: no transposes
                between layers).
            tail: ``(B, C_in, pad)`` (``(B, pad, C_in)`` with ``channels_last``) the last
                ``pad = (k-1)·d - (s-1)`` inputs seen so far (the zero padding before the first
                piece), or None at the start of the sequence.

        Returns:
            ``(y (B, C_out, n / stride), new_tail)`` (``y (B, n / stride, C_out)`` with
            ``channels_last``); pieces fed in order with the tail carried give the output of
            ``forward`` on the whole sequence. Short pieces are one GEMM
            (:func:`conv1d_taps`).
        """
        if not self.causal:
            raise ValueError("forward_stream needs a causal convolution")
        if not channels_last:
            tail = None if tail is None else tail.transpose(1, 2)
            y, tail = self.forward_stream(x.transpose(1, 2), tail, channels_last=True)
            return y.transpose(1, 2), tail.transpose(1, 2)
        if tail is None:
            tail = x.new_zeros(x.shape[0], self.pad[0], x.shape[2])
        padded = torch.cat([tail, x], dim=1)
        return conv1d_channels_last(padded, self), padded[:, padded.shape[1] - self.pad[0] :]


class TemporalBlock(nn.Module):
    """Residual block: two dilated convolutions (kernel ``k``, dilation ``d``) with GELU.

    ``y = res(x) + drop(gelu(conv2(drop(gelu(conv1(x))))))``; ``res`` is a 1×1 convolution when the
    channel count changes, the identity otherwise. Shapes: ``(B, C_in, T)`` → ``(B, C_out, T)``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        causal: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.conv1 = PaddedConv1d(in_channels, out_channels, kernel_size, 1, dilation, causal)
        self.conv2 = PaddedConv1d(out_channels, out_channels, kernel_size, 1, dilation, causal)
        self.dropout = nn.Dropout(dropout)
        self.res = (
            nn.Conv1d(in_channels, out_channels, 1)
            if in_channels != out_channels
            else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.dropout(gelu(self.conv1(x)))
        y = self.dropout(gelu(self.conv2(y)))
        return self.res(x) + y

    def forward_stream(
        self, x: Tensor, state: tuple | None = None, channels_last: bool = False
    ) -> tuple[Tensor, tuple]:
        """Causal block on the next piece ``(B, C_in, n)`` (``(B, n, C_in)`` with
        ``channels_last``); ``state`` = the two conv tails (in the layout of ``x``)."""
        t1, t2 = state if state is not None else (None, None)
        y, t1 = self.conv1.forward_stream(x, t1, channels_last)
        y, t2 = self.conv2.forward_stream(self.dropout(gelu(y)), t2, channels_last)
        if isinstance(self.res, nn.Conv1d) and channels_last:
            res = conv1d_channels_last(x, self.res)
        else:
            res = self.res(x)
        return res + self.dropout(gelu(y)), (t1, t2)


class TCN(nn.Module):
    """Stack of ``TemporalBlock`` s with dilations ``dilations[i]`` (default ``2**i``).

    Args:
        in_channels: input channels ``C_in``.
        channels: output channels of each block (one block per entry).
        kernel_size: ``k`` (7 in the published detector).
        dilations: one per block; default ``1, 2, 4, …``.
        causal: causal padding (streaming) instead of centred.
        dropout: after each convolution.

    Shapes: ``(B, C_in, T)`` → ``(B, channels[-1], T)``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        kernel_size: int = 7,
        dilations: Sequence[int] | None = None,
        causal: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        dilations = (
            tuple(dilations) if dilations is not None else tuple(2**i for i in range(len(channels)))
        )
        if len(dilations) != len(channels):
            raise ValueError(f"{len(channels)} blocks but {len(dilations)} dilations")
        self.kernel_size, self.dilations = kernel_size, dilations
        ins = (in_channels, *channels[:-1])
        self.blocks = nn.Sequential(
            *(
                TemporalBlock(i, o, kernel_size, d, causal, dropout)
                for i, o, d in zip(ins, channels, dilations)
            )
        )
        self.out_channels = channels[-1] if len(channels) else in_channels

    @property
    def receptive_field(self) -> int:
        """Input samples that one output sample depends on."""
        return tcn_receptive_field(self.kernel_size, self.dilations)

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(x)


class TCNEncoder(nn.Module):
    """Strided conv stem → TCN → strided downsampling conv: ``(B, C_in, T)`` → ``(B, D, T / S)``.

    The published detector uses no stem, a TCN with 8 blocks (kernel 7, dilations 1…128) at the
    input rate and a 16× downsampling conv (kernel 16, stride 16): ``(B, 19, 15360)`` →
    ``(B, 512, 960)``. The fast preset downsamples first (stem strides, e.g. 8·8 = 64) so the TCN
    runs at a few Hz.

    Args:
        in_channels: ``C_in``.
        out_channels: ``D``.
        tcn_channels: TCN block widths (may be empty).
        kernel_size: TCN kernel.
        dilations: TCN dilations (default ``2**i``).
        stem_channels, stem_strides: one strided conv (kernel ``2·s``, GELU) per entry.
        downsample: stride (= kernel) of the last conv; 1 makes it a 1×1 projection.
        causal: causal padding everywhere (see module docstring).
        dropout: inside the TCN blocks.

    ``T`` must be a multiple of ``stride`` (the product of all strides).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        tcn_channels: Sequence[int] = (64, 128, 256, 512, 64, 128, 256, 512),
        kernel_size: int = 7,
        dilations: Sequence[int] | None = None,
        stem_channels: Sequence[int] = (),
        stem_strides: Sequence[int] = (),
        downsample: int = 16,
        causal: bool = False,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(stem_channels) != len(stem_strides):
            raise ValueError("stem_channels and stem_strides must have the same length")
        stem: list[nn.Module] = []
        c = in_channels
        for width, s in zip(stem_channels, stem_strides):
            stem += [PaddedConv1d(c, width, 2 * s, stride=s, causal=causal), nn.GELU()]
            c = width
        self.stem = nn.Sequential(*stem)
        self.stem_strides = tuple(stem_strides)
        self.tcn = TCN(c, tuple(tcn_channels), kernel_size, dilations, causal, dropout)
        self.down = nn.Conv1d(self.tcn.out_channels, out_channels, downsample, stride=downsample)
        self.downsample = downsample
        self.stride = downsample
        for s in stem_strides:
            self.stride *= s

    @property
    def receptive_field(self) -> int:
        """Input samples that one output frame depends on (see the module docstring)."""
        return encoder_receptive_field(
            self.stem_strides, self.tcn.kernel_size, self.tcn.dilations, self.downsample
        )

    def forward(self, x: Tensor) -> Tensor:
        """``x (B, C_in, T)`` → ``(B, out_channels, T / stride)``."""
        if x.shape[-1] % self.stride:
            raise ValueError(f"length {x.shape[-1]} is not a multiple of the stride {self.stride}")
        return self.down(self.tcn(self.stem(x)))

    def forward_stream(self, x: Tensor, state: list | None = None) -> tuple[Tensor, list]:
        """Causal encoder on the next piece of a sequence, carrying every conv tail.

        Args:
            x: ``(B, C_in, n)``, ``n`` a multiple of ``stride``.
            state: from the previous call (stem conv tails, then one pair per TCN block), or
                None at the start of the sequence.

        Returns:
            ``(y (B, out_channels, n / stride), new_state)``; equal, piece by piece, to
            ``forward`` on the concatenated pieces (the last conv has stride = kernel and needs
            no tail, as every piece is a multiple of the stride). Runs channels-last inside
            (tails ``(B, pad, C)``; ``y`` is a transposed view of a ``(B, n / stride,
            out_channels)`` tensor), each conv of a short piece as one GEMM.
        """
        if x.shape[-1] % self.stride:
            raise ValueError(f"length {x.shape[-1]} is not a multiple of the stride {self.stride}")
        convs = [m for m in self.stem if isinstance(m, PaddedConv1d)]
        state = list(state) if state is not None else [None] * (len(convs) + len(self.tcn.blocks))
        h = x.transpose(1, 2)  # (B, n, C_in)
        for i, conv in enumerate(convs):
            h, state[i] = conv.forward_stream(h, state[i], channels_last=True)
            h = gelu(h)
        for i, block in enumerate(self.tcn.blocks, start=len(convs)):
            h, state[i] = block.forward_stream(h, state[i], channels_last=True)
        return conv1d_channels_last(h, self.down).transpose(1, 2), state
