"""GELU without oneDNN's per-call set-up on small tensors.

For a contiguous float32 CPU tensor PyTorch computes the exact GELU with oneDNN, whose set-up per
call (about 8-20 µs) is many times the arithmetic of a small tensor: a streamed chunk's
activations (``(18, 4, 32)`` at 1-s chunks, 14 GELUs per chunk) took 20-26 µs each against
2-5 µs in ATen's own kernel. Large tensors are faster in oneDNN (from about 16,000 elements,
measured on a 2-core AVX2 machine), so :func:`gelu` sends only small ones to ATen's kernel:
PyTorch uses oneDNN for contiguous inputs only, so the kernel is reached through a transposed
view (``F.gelu(x.mT).mT``: elementwise, the same values, a contiguous result). Both kernels
compute ``x · Φ(x)`` (``Φ`` the standard normal CDF) to float32 round-off.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

#: Tensors with fewer elements than this take ATen's kernel (see the module docstring).
SMALL = 8192


def gelu(x: Tensor) -> Tensor:
    """``F.gelu(x)`` (exact, not the tanh approximation), any shape; a small tensor with at
    least two dimensions of more than one element is computed by ATen's kernel, not oneDNN's."""
    if x.numel() < SMALL and x.dim() >= 2 and x.shape[-1] > 1 and x.shape[-2] > 1:
        return F.gelu(x.mT).mT
    return F.gelu(x)
