"""Gated RMS normalisation, as used at the output of Mamba-2 and Gated DeltaNet."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class RMSNormGated(nn.Module):
    """RMSNorm with a SiLU gate, normalised in groups of ``group_size`` channels.

    ``norm_before_gate=False`` (Mamba-2): ``rmsnorm(x * silu(z)) * weight``.
    ``norm_before_gate=True`` (Gated DeltaNet): ``rmsnorm(x) * weight * silu(z)``.

    Shapes: ``x, z (..., d)`` → ``(..., d)``; statistics in float32.
    """

    def __init__(
        self,
        d: int,
        group_size: int | None = None,
        eps: float = 1e-5,
        norm_before_gate: bool = False,
    ) -> None:
        super().__init__()
        self.group_size = group_size or d
        if d % self.group_size:
            raise ValueError(f"d ({d}) must be divisible by group_size ({self.group_size})")
        self.eps = eps
        self.norm_before_gate = norm_before_gate
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        dtype = x.dtype
        x = x.float() if dtype != torch.float64 else x
        gate = F.silu(z.to(x.dtype))
        if not self.norm_before_gate:
            x = x * gate
        groups = x.reshape(*x.shape[:-1], -1, self.group_size)
        groups = groups * torch.rsqrt(groups.pow(2).mean(-1, keepdim=True) + self.eps)
        x = groups.reshape(x.shape) * self.weight.to(x.dtype)
        if self.norm_before_gate:
            x = x * gate
        return x.to(dtype)
