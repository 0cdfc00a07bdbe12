"""eegssm.nn.activation.gelu equals F.gelu (exact GELU) on every shape and size."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from eegssm.nn.activation import SMALL, gelu


def reference(x: torch.Tensor) -> torch.Tensor:
    """x · Φ(x) in float64."""
    x = x.double()
    return x * 0.5 * (1 + torch.erf(x / math.sqrt(2)))


@pytest.mark.parametrize(
    "shape",
    [(), (7,), (1, 9), (9, 1), (18, 4, 32), (1, 4, 32), (3, 1, 5), (2, 3, 4, 5), (SMALL - 1, 1),
     (SMALL // 64, 64), (4, SMALL // 4), (1, 4, 18, 32), (0, 5)],
)  # fmt: skip
def test_equals_the_exact_gelu(shape):
    torch.manual_seed(0)
    x = torch.randn(shape) * 4
    if x.numel() >= 3:  # the tails and zero
        x.view(-1)[:3] = torch.tensor([-30.0, 0.0, 30.0])
    y = gelu(x)
    assert y.shape == x.shape and y.dtype == x.dtype and y.is_contiguous()
    torch.testing.assert_close(y, F.gelu(x), rtol=2e-6, atol=1e-6)
    torch.testing.assert_close(y.double(), reference(x), rtol=2e-6, atol=1e-6)


def test_non_contiguous_inputs_and_float64():
    x = torch.randn(5, 6, 7, dtype=torch.float64)[:, ::2].transpose(0, 2)
    torch.testing.assert_close(gelu(x), reference(x), rtol=1e-12, atol=1e-12)


def test_gradients_equal_those_of_f_gelu():
    x = torch.randn(3, 4, 5, requires_grad=True)
    g = torch.randn(3, 4, 5)
    (dx,) = torch.autograd.grad(gelu(x), x, g)
    (ref,) = torch.autograd.grad(F.gelu(x), x, g)
    torch.testing.assert_close(dx, ref, rtol=1e-5, atol=1e-6)
    x64 = x.detach().double().requires_grad_()
    (exact,) = torch.autograd.grad(reference(x64), x64, g.double())
    torch.testing.assert_close(dx.double(), exact, rtol=1e-5, atol=1e-6)
