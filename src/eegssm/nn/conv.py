"""Causal depthwise 1-D convolution with a carried tail, for streaming.

Used in front of the SSM in Mamba-2 (over ``x, B, C``) and in Gated DeltaNet (over ``q, k, v``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.nn import kernels

#: Elements of the scratch product per pass in the conv weight gradient (:func:`_sum_products`).
_REDUCE_ELEMENTS = 1 << 20


def _sum_products(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum((0, 1))`` for ``(B, T, D)`` tensors, in slices along ``T`` (one small
    scratch buffer instead of a full-size product)."""
    B, T, D = a.shape
    step = max(1, _REDUCE_ELEMENTS // max(1, B * D))
    out = torch.zeros(D, dtype=a.dtype, device=a.device)
    scratch = torch.empty(B, min(step, T), D, dtype=a.dtype, device=a.device)
    for t0 in range(0, T, step):
        t1 = min(T, t0 + step)
        prod = torch.mul(a[:, t0:t1], b[:, t0:t1], out=scratch[:, : t1 - t0])
        out += prod.sum((0, 1))
    return out


def _pre_activation(
    x: Tensor, tail: Tensor | None, w: Tensor, bias: Tensor | None, out: Tensor | None = None
) -> Tensor:
    """``bias + sum_i w_i x_{t-k+1+i}`` for ``x (B, L, D)``, ``tail (B, k-1, D)`` (the inputs
    before ``x``; None = zeros), ``w (k, D)``: one multiply-add pass per tap, no padded copy.
    Written into ``out`` when given."""
    k, L = w.shape[0], x.shape[1]
    if bias is None:
        pre = torch.mul(x, w[k - 1], out=out)
    else:
        pre = torch.addcmul(bias, x, w[k - 1], out=out)
    for s in range(1, k):  # tap k-1-s reads the input s steps back
        if s < L:
            pre[:, s:].addcmul_(x[:, : L - s], w[k - 1 - s])
        if tail is not None:
            m = min(s, L)
            pre[:, :m].addcmul_(tail[:, k - 1 - s : k - 1 - s + m], w[k - 1 - s])
    return pre


class _CausalConvSiLU(torch.autograd.Function):
    """``silu(causal depthwise conv)`` on ``(B, L, D)``; the backward recomputes the
    pre-activation instead of saving it."""

    @staticmethod
    def forward(ctx, x, tail, weight, bias):
        w = weight[:, 0].t().contiguous()  # (k, D)
        y = F.silu(_pre_activation(x, tail, w, bias), inplace=True)
        ctx.save_for_backward(x, tail, weight, bias)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy):
        x, tail, weight, bias = ctx.saved_tensors
        k, L = weight.shape[-1], x.shape[1]
        w = weight[:, 0].t().contiguous()
        g = _pre_activation(x, tail, w, bias)  # then overwritten with the pre-activation grad
        g = torch.ops.aten.silu_backward.grad_input(gy, g, grad_input=g)
        dx = dtail = dw = dbias = None
        if ctx.needs_input_grad[0]:
            dx = torch.mul(g, w[k - 1])
            for s in range(1, min(k, L)):
                dx[:, : L - s].addcmul_(g[:, s:], w[k - 1 - s])
        if ctx.needs_input_grad[1]:
            dtail = torch.zeros_like(tail)
            for s in range(1, k):
                m = min(s, L)
                dtail[:, k - 1 - s : k - 1 - s + m].addcmul_(g[:, :m], w[k - 1 - s])
        if ctx.needs_input_grad[2]:
            dw = torch.empty_like(w)
            dw[k - 1] = _sum_products(g, x)
            for s in range(1, k):
                dw[k - 1 - s] = _sum_products(g[:, s:], x[:, : L - s]) if s < L else 0.0
                if tail is not None:
                    m = min(s, L)
                    dw[k - 1 - s] += _sum_products(g[:, :m], tail[:, k - 1 - s : k - 1 - s + m])
            dw = dw.t().unsqueeze(1)
        if bias is not None and ctx.needs_input_grad[3]:
            dbias = g.sum((0, 1))
        return dx, dtail, dw, dbias


class CausalDepthwiseConv1d(nn.Module):
    """Depthwise causal convolution followed by SiLU, on ``(B, L, D)`` sequences.

    ``y_t = silu(bias + sum_{i<k} w_i * x_{t-k+1+i})``: output ``t`` sees inputs ``t-k+1 .. t``.
    The *tail* (the last ``k-1`` inputs, ``(B, D, k-1)``) is the streaming state: feeding a
    sequence in pieces with the tail carried gives the same output as feeding it whole.

    Args:
        channels: ``D``.
        kernel_size: ``k`` (the CUDA kernel supports 2, 3, 4).
    """

    def __init__(self, channels: int, kernel_size: int = 4, bias: bool = True) -> None:
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
        self.channels = channels
        self.kernel_size = kernel_size
        self.conv = nn.Conv1d(
            channels, channels, kernel_size, groups=channels, padding=0, bias=bias
        )

    def empty_tail(self, batch: int, device=None, dtype=None) -> Tensor:
        """A zero tail ``(B, D, k-1)`` (the state before the first sample)."""
        w = self.conv.weight
        return torch.zeros(
            batch,
            self.channels,
            self.kernel_size - 1,
            device=device or w.device,
            dtype=dtype or w.dtype,
        )

    def forward(self, x: Tensor, tail: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Convolve a sequence.

        Args:
            x: ``(B, L, D)``.
            tail: ``(B, D, k-1)`` previous inputs, or None for zeros (start of a sequence).

        Returns:
            ``(y (B, L, D), new_tail (B, D, k-1))``.
        """
        xt = x.transpose(1, 2)  # (B, D, L)
        k = self.kernel_size
        if tail is None and kernels.use_causal_conv1d(xt, k):
            y = kernels.causal_conv1d(xt, self.conv.weight, self.conv.bias)
            last = xt[..., max(0, xt.shape[-1] - (k - 1)) :]
            new_tail = F.pad(last, (k - 1 - last.shape[-1], 0))
            return y.transpose(1, 2), new_tail
        # (B, L, D) layout throughout: one multiply-add pass per tap, no transposed or padded
        # copy, output contiguous like the input.
        tail_t = None if tail is None else tail.to(x.dtype).transpose(1, 2)  # (B, k-1, D)
        y = _CausalConvSiLU.apply(x, tail_t, self.conv.weight, self.conv.bias)
        return y, self.next_tail(x, tail)

    def forward_stream(self, x: Tensor, tail: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``forward`` for a short streamed piece, in as few operations as possible: the tail
        and ``x`` in one buffer, one multiply-add per tap, the new tail a view of that buffer
        (no autograd Function, no kernel dispatch). Same arguments, results up to round-off.

        Shapes: ``x (B, L, D)``, ``tail (B, D, k-1)`` or None → ``(y (B, L, D), new_tail)``.
        """
        k, L = self.kernel_size, x.shape[1]
        if tail is None:
            tail = self.empty_tail(x.shape[0], x.device, x.dtype)
        window = torch.cat([tail.to(x.dtype).transpose(1, 2), x], dim=1)  # (B, k-1+L, D)
        w = self.conv.weight[:, 0].t()  # (k, D)
        bias = self.conv.bias
        pre = torch.mul(x, w[k - 1]) if bias is None else torch.addcmul(bias, x, w[k - 1])
        for i in range(k - 1):  # tap i reads the input k-1-i steps back
            pre.addcmul_(window[:, i : i + L], w[i])
        return F.silu(pre, inplace=True), window[:, L:].transpose(1, 2)

    def next_tail(self, x: Tensor, tail: Tensor | None = None) -> Tensor:
        """The tail after ``x (B, L, D)``: its last ``k-1`` inputs ``(B, D, k-1)``, preceded by
        the end of ``tail`` (None = zeros) when ``L < k-1``."""
        k, L = self.kernel_size, x.shape[1]
        xt = x.transpose(1, 2)
        if L >= k - 1:
            return xt[..., L - (k - 1) :].clone()
        if tail is None:
            tail = self.empty_tail(x.shape[0], x.device, x.dtype)
        return torch.cat([tail.to(x.dtype)[..., L:], xt], dim=-1)

    def step(self, x_t: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        """One time step: ``x_t (B, D)``, ``tail (B, D, k-1)`` → ``(y_t (B, D), new_tail)``."""
        window = torch.cat([tail.to(x_t.dtype), x_t.unsqueeze(-1)], dim=-1)  # (B, D, k)
        w = self.conv.weight.squeeze(1)  # (D, k)
        y = (window * w).sum(-1)
        if self.conv.bias is not None:
            y = y + self.conv.bias
        return F.silu(y), window[..., 1:]
