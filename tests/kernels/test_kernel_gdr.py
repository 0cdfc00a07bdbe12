"""``fla.chunk_gated_delta_rule`` against the project's gated-delta-rule reference, forward and
backward (gradients of q, k, v, g, beta and the initial state), on the kernel tier's device.
Tolerances: ``_parity.py``.

The reference is :func:`eegssm.nn.gated_delta_rule.gated_delta_rule_chunked` in float64 (itself
tested against the time loop in ``tests/test_gated_delta_rule.py``).
"""

from __future__ import annotations

import pytest
import torch

from eegssm.nn import kernels
from eegssm.nn.gated_delta_rule import gated_delta_rule_chunked

from _parity import CORE_TOL, assert_close, run
from _reference import gdr_inputs

pytestmark = pytest.mark.kernels

NAMES = ["dq", "dk", "dv", "dg", "dbeta", "dinitial"]


def _reference(q, k, v, g, beta, s0):
    scale = q.shape[-1] ** -0.5
    return gated_delta_rule_chunked(q, k, v, g, beta, 32, scale, s0)


def _kernel(q, k, v, g, beta, s0):
    return kernels.gated_delta_rule(q, k, v, g, beta, q.shape[-1] ** -0.5, s0)


def _check(inputs, device, kind="gated delta rule", dg_floor=False):
    ref_out, ref_grads = run(_reference, [t.double() for t in inputs])
    ker_out, ker_grads = run(_kernel, [t.to(device) for t in inputs])
    tol = CORE_TOL[device.type]
    assert_close(ker_out, ref_out, tol, ["o", "final_state"], f"{kind} outputs")
    floors = {"dg": ref_grads[2].norm().item()} if dg_floor else None  # ||dv||
    assert_close(ker_grads, ref_grads, tol, NAMES, f"{kind} gradients", floors=floors)


@pytest.mark.parametrize(
    "b, l, h, dk, dv",
    [(2, 70, 2, 16, 32), (1, 1, 2, 16, 32), (1, 129, 1, 8, 16), (2, 64, 2, 32, 64)],
    ids=["B2-T70", "B1-T1", "B1-T129-dk8", "B2-T64-dk32"],
)
def test_gdr_kernel_with_states(gdn_kernel, b, l, h, dk, dv):
    """Initial state in, final state out; lengths 1, 64, 70, 129 (the kernel's chunk is 64);
    key widths 8 (the detector's edge stream), 16, 32."""
    _check(list(gdr_inputs(b, l, h, dk, dv, seed=l)), gdn_kernel)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
@pytest.mark.parametrize("gate", ["alpha~1", "alpha~0", "beta~0", "beta~1"])
def test_gdr_kernel_extreme_gates(gdn_kernel, gate):
    """Decays ``alpha = exp(g)`` near 1 (g in [-1e-3, 0]) and near 0 (g in [-30, -20]: the
    memory is erased every step), write strengths ``beta`` near 0 and near 1.

    With ``alpha ~ 0`` the true ``dg = alpha · dL/dalpha`` is tiny (norm ~1e-9 here), but the
    kernel forms it from float32 terms of the size of the other gradients (norm ~5), so its
    error is float32 rounding of those terms (measured ~7e-6 absolute: 6e3 relative to ``dg``'s
    own norm, 1.2e-6 relative to ``||dv||``). ``dg`` is therefore measured against
    ``max(||dg||, ||dv||)`` there; the error of ``dg`` relative to its own norm grows smoothly
    with the decay (1e-6 at g in [-1, 0], 1e-4 at [-6, -4], 1e-2 at [-12, -8]).
    """
    q, k, v, g, beta, s0 = gdr_inputs(2, 50, 2, 16, 32, seed=11)
    gen = torch.Generator().manual_seed(12)
    u = torch.rand(g.shape, generator=gen)
    if gate == "alpha~1":
        g = -1e-3 * u
    elif gate == "alpha~0":
        g = -20.0 - 10.0 * u
    elif gate == "beta~0":
        beta = 1e-3 * (1 + u)
    else:
        beta = 1 - 1e-3 * (1 + u)
    kind = "gated delta rule, extreme gates"
    _check([q, k, v, g, beta, s0], gdn_kernel, kind, dg_floor=gate == "alpha~0")


def test_gdr_kernel_streaming_handoff(gdn_kernel):
    """Two pieces with the state handed over = the whole sequence = the reference, gradients
    included (through the hand-off)."""
    device = gdn_kernel
    inputs = list(gdr_inputs(2, 90, 2, 16, 32, seed=21))
    cut = 37

    def pieces(q, k, v, g, beta, s0):
        first = [t[:, :cut] for t in (q, k, v, g, beta)]
        second = [t[:, cut:] for t in (q, k, v, g, beta)]
        o1, s1 = _kernel(*first, s0)
        o2, s2 = _kernel(*second, s1)
        return torch.cat([o1, o2], dim=1), s2

    tol = CORE_TOL[device.type]
    ref = run(_reference, [t.double() for t in inputs])
    for fn in (_kernel, pieces):
        out, grads = run(fn, [t.to(device) for t in inputs])
        assert_close(out, ref[0], tol, ["o", "final_state"], "gated delta rule outputs")
        assert_close(grads, ref[1], tol, NAMES, "gated delta rule gradients")
