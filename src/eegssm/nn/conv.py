"""Causal depthwise 1-D convolution with a carried tail, for streaming.

Used in front of the SSM in Mamba-2 (over ``x, B, C``) and in Gated DeltaNet (over ``q, k, v``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eegssm.nn import kernels


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
        if tail is None and kernels.use_causal_conv1d(xt):
            y = kernels.causal_conv1d(xt, self.conv.weight, self.conv.bias)
            last = xt[..., max(0, xt.shape[-1] - (k - 1)) :]
            new_tail = F.pad(last, (k - 1 - last.shape[-1], 0))
            return y.transpose(1, 2), new_tail
        if tail is None:
            tail = self.empty_tail(x.shape[0], x.device, x.dtype)
        padded = torch.cat([tail.to(xt.dtype), xt], dim=-1)  # (B, D, k-1+L)
        y = F.silu(self.conv(padded))
        new_tail = padded[..., padded.shape[-1] - (k - 1) :]
        return y.transpose(1, 2), new_tail

    def step(self, x_t: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        """One time step: ``x_t (B, D)``, ``tail (B, D, k-1)`` → ``(y_t (B, D), new_tail)``."""
        window = torch.cat([tail.to(x_t.dtype), x_t.unsqueeze(-1)], dim=-1)  # (B, D, k)
        w = self.conv.weight.squeeze(1)  # (D, k)
        y = (window * w).sum(-1)
        if self.conv.bias is not None:
            y = y + self.conv.bias
        return F.silu(y), window[..., 1:]
