"""Optional CUDA kernels, imported lazily.

When a tensor is on CUDA and the kernel package imports, the layers dispatch to:

- ``mamba_ssm``'s ``mamba_chunk_scan_combined`` (Triton SSD) for ``ssd_chunked``;
- ``causal_conv1d``'s ``causal_conv1d_fn`` for the depthwise causal convolution;
- ``fla``'s ``chunk_gated_delta_rule`` (flash-linear-attention) for the gated delta rule.

Everything else (CPU, missing packages, ``EEGSSM_DISABLE_KERNELS=1``) uses the pure-PyTorch
reference path, which the kernels are tested against (``tests/test_kernels_gpu.py``,
marked ``gpu``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

from torch import Tensor


def _enabled() -> bool:
    return os.environ.get("EEGSSM_DISABLE_KERNELS", "0") not in ("1", "true", "yes")


@functools.cache
def _load(name: str) -> Callable[..., Any] | None:
    """Import one kernel entry point, or None if its package is missing or broken."""
    try:
        if name == "ssd":
            from mamba_ssm.ops.triton.ssd_combined import mamba_chunk_scan_combined as fn
        elif name == "conv":
            from causal_conv1d import causal_conv1d_fn as fn
        elif name == "gdn":
            from fla.ops.gated_delta_rule import chunk_gated_delta_rule as fn
        else:  # pragma: no cover - programming error
            raise KeyError(name)
    except Exception:  # ImportError, or a package built for another CUDA/torch
        return None
    return fn


def available(name: str) -> bool:
    """Whether kernel ``name`` (``"ssd"``, ``"conv"``, ``"gdn"``) can be imported."""
    return _load(name) is not None


def _use(name: str, t: Tensor) -> bool:
    return t.is_cuda and _enabled() and _load(name) is not None


def use_ssd(x: Tensor) -> bool:
    return _use("ssd", x)


def use_causal_conv1d(x: Tensor) -> bool:
    # The kernel supports widths 2..4 and wants channel counts that are multiples of 8.
    return _use("conv", x) and x.shape[1] % 8 == 0


def use_gated_delta_rule(q: Tensor) -> bool:
    return _use("gdn", q)


def ssd(x, dt, A, B, C, chunk_size, initial_state):
    """``mamba_chunk_scan_combined`` with our argument conventions → ``(y, final_state)``."""
    fn = _load("ssd")
    y, final = fn(
        x,
        dt,
        A,
        B,
        C,
        chunk_size=chunk_size,
        initial_states=initial_state,
        return_final_states=True,
    )
    return y, final


def causal_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x (B, D, L)``, depthwise ``weight (D, 1, k)`` → ``silu(conv(x))`` ``(B, D, L)``."""
    fn = _load("conv")
    return fn(x.contiguous(), weight.squeeze(1), bias, activation="silu")


def gated_delta_rule(q, k, v, g, beta, scale, initial_state):
    """fla's ``chunk_gated_delta_rule`` on ``(B, L, H, D)`` tensors → ``(o, final_state)``."""
    fn = _load("gdn")
    return fn(
        q,
        k,
        v,
        g,
        beta,
        scale=scale,
        initial_state=initial_state,
        output_final_state=True,
    )
