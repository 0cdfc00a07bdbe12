"""Helpers of the kernel-parity tier: run a function forward and backward, compare to a reference.

Tolerances (relative RMS error ``||a - e|| / ||e||``, per output and per gradient):

- CPU, Triton interpreter: the kernels' float32 arithmetic runs in NumPy with IEEE float32
  products (no TF32), so they differ from the float64 reference only by float32 rounding
  (eps = 1.2e-7) accumulated over sums of ~10-100 terms and a few ``exp`` of cumulative sums:
  measured at most ~3e-6 for the cores (``make test-kernels``). ``CORE_TOL["cpu"] = 1e-5``
  leaves a 3x margin and is still ~100x below any real bug (a wrong term is an O(1e-2..1) error).
  Whole layers and models compare two float32 paths through several layers and norms: 1e-4.
- CUDA, native: Triton's ``tl.dot`` on float32 uses TF32 (10-bit mantissa, rounding 2^-11 ≈ 5e-4
  per product), so 5e-3 for the cores (as ``tests/test_kernels_gpu.py``) and 2e-2 for whole
  models. These CUDA bounds are NOT yet checked on hardware (no GPU was lent when written).
"""

from __future__ import annotations

import torch

from _reference import rel_err

CORE_TOL = {"cpu": 1e-5, "cuda": 5e-3}
#: Gradients of per-head parameters (``A``, ``D``, ``dt_bias``): sums over all b·l·p(·n) positions
#: with cancellation, so float32 summation error grows with the count (measured up to ~1.3e-5).
REDUCED_TOL = {"cpu": 1e-4, "cuda": 1e-2}
MODEL_TOL = {"cpu": 1e-4, "cuda": 2e-2}
REDUCED = ("dA", "dD", "ddt_bias")

#: The largest error seen per kind of comparison ("outputs", "gradients", ...), printed at the
#: end of the tier (``conftest.pytest_terminal_summary``).
MAX_ERRORS: dict[str, float] = {}


def cotangents(tensors, seed: int = 1234) -> list[torch.Tensor]:
    """Random cotangents of the shapes of ``tensors``: contiguous, drawn on the CPU from a seeded
    generator, then moved (never ``randn_like``: that copies the strides of a kernel's output, so
    the same seed gives differently laid-out draws for the kernel and the reference)."""
    gen = torch.Generator().manual_seed(seed)
    return [
        torch.randn(t.shape, generator=gen, dtype=torch.float64).to(t.device, t.dtype)
        for t in tensors
    ]


def run(fn, inputs, seed: int = 1234):
    """``fn(*leaves)`` → tuple of outputs; backward with :func:`cotangents`.

    Returns ``(outputs, grads)`` detached, grads in the order of ``inputs`` (None-free: every
    input must receive a gradient).
    """
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    outs = fn(*leaves)
    outs = outs if isinstance(outs, tuple) else (outs,)
    torch.autograd.backward(outs, cotangents(outs, seed))
    missing = [i for i, t in enumerate(leaves) if t.grad is None]
    assert not missing, f"inputs {missing} received no gradient"
    return [o.detach() for o in outs], [t.grad for t in leaves]


def assert_close(actual, expected, tol, names, kind: str, reduced_tol=None, floors=None) -> None:
    """Every pair within relative RMS ``tol`` (``reduced_tol`` for the names in ``REDUCED``);
    the message lists all errors. The largest error is kept in ``MAX_ERRORS[kind]``.

    ``floors``: name → a norm below which the error is measured against that norm instead of
    the expected tensor's own (``||a - e|| / max(||e||, floor)``), for a gradient that is a
    small difference of large float32 terms (see ``test_gdr_kernel_extreme_gates``).
    """
    assert len(actual) == len(expected) == len(names)
    floors = floors or {}
    errors = {}
    for name, a, e in zip(names, actual, expected):
        a, e = a.double().cpu(), e.double().cpu()
        denom = max(e.norm().item(), floors.get(name, 0.0))
        errors[name] = (a - e).norm().item() / denom if denom > 0 else rel_err(a, e)
    limits = {n: reduced_tol if reduced_tol and n in REDUCED else tol for n in names}
    for n, err in errors.items():
        key = f"{kind}, per-head parameters" if limits[n] != tol else kind
        MAX_ERRORS[key] = max(MAX_ERRORS.get(key, 0.0), err)
    bad = {n: f"{err:.2e} > {limits[n]:g}" for n, err in errors.items() if not err < limits[n]}
    assert not bad, f"relative error too large: {bad} (all: {_fmt(errors)})"


def _fmt(errors: dict) -> str:
    return ", ".join(f"{n} {e:.1e}" for n, e in errors.items())
