"""Helpers shared by the sequence-core tests: random inputs and error measures."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rel_err(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Relative RMS error ``||a - e|| / ||e||`` (0 when both are 0)."""
    denom = expected.double().norm().item()
    diff = (actual.double() - expected.double()).norm().item()
    return diff / denom if denom > 0 else diff


def ssd_inputs(b, l, h, p, g, n, dtype=torch.float32, dt_max=None, a_max=None, seed=0):
    """Random SSD inputs ``x, dt, A, B, C`` (dt > 0, A < 0) and an initial state."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(b, l, h, p, generator=gen, dtype=dtype)
    dt = F.softplus(torch.randn(b, l, h, generator=gen, dtype=dtype) - 1.0)
    A = -(torch.rand(h, generator=gen, dtype=dtype) * 4 + 0.5)
    if dt_max is not None:
        dt = torch.rand(b, l, h, generator=gen, dtype=dtype) * dt_max
    if a_max is not None:
        A = -torch.rand(h, generator=gen, dtype=dtype) * a_max
    B = torch.randn(b, l, g, n, generator=gen, dtype=dtype)
    C = torch.randn(b, l, g, n, generator=gen, dtype=dtype)
    s0 = torch.randn(b, h, p, n, generator=gen, dtype=dtype)
    return x, dt, A, B, C, s0


def gdr_inputs(b, l, h, dk, dv, dtype=torch.float32, g_min=None, seed=0):
    """Random gated-delta-rule inputs ``q, k (L2-normalised), v, g <= 0, beta``, and a state."""
    gen = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(b, l, h, dk, generator=gen, dtype=dtype), dim=-1)
    k = F.normalize(torch.randn(b, l, h, dk, generator=gen, dtype=dtype), dim=-1)
    v = torch.randn(b, l, h, dv, generator=gen, dtype=dtype)
    g = -F.softplus(torch.randn(b, l, h, generator=gen, dtype=dtype) - 1.0)
    if g_min is not None:
        g = -torch.rand(b, l, h, generator=gen, dtype=dtype) * abs(g_min)
    beta = torch.sigmoid(torch.randn(b, l, h, generator=gen, dtype=dtype))
    s0 = torch.randn(b, h, dk, dv, generator=gen, dtype=dtype) * 0.1
    return q, k, v, g, beta, s0
