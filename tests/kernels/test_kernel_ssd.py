"""``mamba_ssm.mamba_chunk_scan_combined`` against the project's SSD reference, forward and
backward (gradients of every input), on the kernel tier's device (CUDA, or the CPU under
Triton's interpreter). Tolerances: ``_parity.py``.

The reference is :func:`eegssm.nn.ssd.ssd_chunked` in float64 (itself tested against the
time loop ``ssd_naive`` in ``tests/test_ssd.py``); the kernel's extras are composed around it:
``dt_bias`` + softplus before, ``z`` gating ``y·silu(z)`` after, ``D`` through its ``D``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from eegssm.nn import kernels
from eegssm.nn.ssd import ssd_chunked

from _parity import CORE_TOL, REDUCED_TOL, assert_close, run
from _reference import ssd_inputs

pytestmark = pytest.mark.kernels


def _case(b, l, h, p, g, n, seed=0):
    """Random ``x, dt, A, B, C, initial, D, z, dt_raw, dt_bias`` (float32, CPU)."""
    x, dt, A, B, C, s0 = ssd_inputs(b, l, h, p, g, n, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    D = torch.randn(h, generator=gen)
    z = torch.randn(b, l, h, p, generator=gen)
    dt_raw = torch.randn(b, l, h, generator=gen) - 1.0
    dt_bias = torch.randn(h, generator=gen) * 0.5
    return dict(x=x, dt=dt, A=A, B=B, C=C, s0=s0, D=D, z=z, dt_raw=dt_raw, dt_bias=dt_bias)


def _reference(x, dt, A, B, C, s0=None, D=None, z=None, dt_bias=None, *, chunk):
    if dt_bias is not None:
        dt = F.softplus(dt + dt_bias)
    y, final = ssd_chunked(x, dt, A, B, C, chunk_size=chunk, initial_state=s0, D=D)
    if z is not None:
        y = y * F.silu(z)
    return y, final


def _kernel(x, dt, A, B, C, s0=None, D=None, z=None, dt_bias=None, *, chunk):
    return kernels.ssd(
        x, dt, A, B, C, chunk, initial_state=s0, D=D, z=z, dt_bias=dt_bias,
        dt_softplus=dt_bias is not None,
    )  # fmt: skip


def _check(case, names, chunk, device):
    """Kernel (float32, on ``device``) vs reference (float64, CPU): outputs and the gradient
    of every input in ``names`` (``dt_raw`` is passed as ``dt``, with ``dt_bias``)."""
    inputs = [case[n] for n in names]
    params = ["dt" if n == "dt_raw" else n for n in names]

    def call(fn):
        return lambda *ts: fn(**dict(zip(params, ts)), chunk=chunk)

    ref_out, ref_grads = run(call(_reference), [t.double() for t in inputs])
    ker_out, ker_grads = run(call(_kernel), [t.to(device) for t in inputs])
    tol, reduced = CORE_TOL[device.type], REDUCED_TOL[device.type]
    assert_close(ker_out, ref_out, tol, ["y", "final_state"], "SSD outputs")
    grad_names = [f"d{n}" for n in params]
    assert_close(ker_grads, ref_grads, tol, grad_names, "SSD gradients", reduced)


PLAIN = ["x", "dt", "A", "B", "C"]
ALL = ["x", "dt_raw", "A", "B", "C", "s0", "D", "z", "dt_bias"]


@pytest.mark.parametrize(
    "b, l, h, g, chunk",
    [(2, 70, 4, 2, 32), (1, 64, 4, 1, 16), (2, 33, 2, 2, 64), (1, 1, 2, 1, 32)],
    ids=["B2-T70-g2-Q32", "B1-T64-g1-Q16", "B2-T33-g2-Q64", "B1-T1"],
)
def test_ssd_kernel_plain(ssd_kernel, b, l, h, g, chunk):
    """No extras: lengths that are and are not multiples of the chunk (incl. 1), 1 or 2 groups,
    batch 1 and 2; output, final state, gradients of x, dt, A, B, C."""
    _check(_case(b, l, h, 8, g, 8), PLAIN, chunk, ssd_kernel)


def test_ssd_kernel_all_options(ssd_kernel):
    """``D``, ``z``, an initial state, ``dt`` bias + softplus, 2 groups, length 50 (not a
    multiple of 32): gradients of all nine inputs."""
    _check(_case(2, 50, 4, 8, 2, 8, seed=3), ALL, 32, ssd_kernel)


@pytest.mark.parametrize("option", ["D", "z", "s0", "dt_bias"])
def test_ssd_kernel_each_option(ssd_kernel, option):
    """Each option alone (so that one option's error cannot hide behind another's)."""
    names = PLAIN + [option]
    if option == "dt_bias":
        names = ["x", "dt_raw", "A", "B", "C", "dt_bias"]
    _check(_case(1, 40, 2, 8, 1, 8, seed=5), names, 32, ssd_kernel)


def test_ssd_kernel_streaming_handoff(ssd_kernel):
    """Kernel on two pieces, the final state of the first passed as the initial state of the
    second, equals the kernel on the whole sequence and the reference, with gradients flowing
    through the hand-off."""
    device = ssd_kernel
    c = _case(2, 75, 4, 8, 2, 8, seed=7)
    inputs = [c[n] for n in ("x", "dt", "A", "B", "C", "s0")]
    cut = 41  # not on a chunk boundary

    def whole(x, dt, A, B, C, s0):
        return kernels.ssd(x, dt, A, B, C, 32, initial_state=s0)

    def pieces(x, dt, A, B, C, s0):
        y1, s1 = kernels.ssd(x[:, :cut], dt[:, :cut], A, B[:, :cut], C[:, :cut], 32, s0)
        y2, s2 = kernels.ssd(x[:, cut:], dt[:, cut:], A, B[:, cut:], C[:, cut:], 32, s1)
        return torch.cat([y1, y2], dim=1), s2

    def reference(x, dt, A, B, C, s0):
        return ssd_chunked(x, dt, A, B, C, chunk_size=32, initial_state=s0)

    tol, reduced = CORE_TOL[device.type], REDUCED_TOL[device.type]
    names = ["dx", "ddt", "dA", "dB", "dC", "ds0"]
    ref = run(reference, [t.double() for t in inputs])
    for fn in (whole, pieces):
        out, grads = run(fn, [t.to(device) for t in inputs])
        assert_close(out, ref[0], tol, ["y", "final_state"], "SSD outputs")
        assert_close(grads, ref[1], tol, names, "SSD gradients", reduced)
