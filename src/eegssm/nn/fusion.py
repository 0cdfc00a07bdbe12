"""Gated fusion of two feature streams of the same width."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GatedFusion(nn.Module):
    """``node + σ(W·[node; other] + b) · other``, element-wise gate per channel.

    The gate bias starts at ``gate_bias`` (negative: the fused output starts close to ``node``
    and learns how much of ``other`` — e.g. the graph stream — to let through).

    Shapes: ``node, other (..., d)`` → ``(..., d)``.
    """

    def __init__(self, d: int, gate_bias: float = 0.0) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * d, d)
        nn.init.constant_(self.gate.bias, gate_bias)

    def forward(self, node: Tensor, other: Tensor) -> Tensor:
        g = torch.sigmoid(self.gate(torch.cat([node, other], dim=-1)))
        return node + g * other
