"""CUDA kernel parity at larger sizes: pure-PyTorch reference vs mamba_ssm / causal_conv1d / fla.

Marked ``gpu`` (excluded by default). Run with ``pytest -m gpu`` on a machine with CUDA and the
``cuda`` extra installed (``pip install -e '.[cuda]'``). Forward and backward, fp32, relative RMS
error against the reference computed on the same device; the kernels' ``tl.dot`` uses TF32 on
CUDA, hence 1e-3 (outputs) and 5e-3 (gradients). The smaller, option-by-option parity tier that
also runs without a GPU (Triton's interpreter) is ``tests/kernels`` (``make test-kernels``).
"""

from __future__ import annotations

import pytest
import torch

from eegssm.nn import kernels
from eegssm.nn.gated_delta_rule import gated_delta_rule_chunked
from eegssm.nn.ssd import ssd_chunked

from _reference import gdr_inputs, rel_err, ssd_inputs

pytestmark = pytest.mark.gpu

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")


def _require(name: str) -> None:
    """Skip unless kernel ``name`` imports (checked here, not at collection: importing
    mamba_ssm takes seconds and would slow every test run)."""
    if not kernels.available(name):
        pytest.skip(f"{kernels.KERNELS[name].distribution}: {kernels.reason(name)}")


def _grads(fn, inputs):
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out, state = fn(*leaves)
    # Cotangents drawn contiguous on the CPU from one seed, then moved: the same values for the
    # kernel and the reference whatever the strides of their outputs (randn_like would copy the
    # output's strides and so lay the same draws out differently).
    gen = torch.Generator().manual_seed(0)
    d_out = torch.randn(out.shape, generator=gen).to(out.device, out.dtype)
    d_state = torch.randn(state.shape, generator=gen).to(state.device, state.dtype)
    torch.autograd.backward([out, state], [d_out, d_state])
    return out.detach(), state.detach(), [t.grad for t in leaves]


@needs_cuda
@pytest.mark.parametrize("l", [64, 1000, 4097], ids=lambda l: f"B2-T{l}-H8")
def test_ssd_kernel_matches_reference(l):
    _require("ssd")
    inputs = [t.cuda() for t in ssd_inputs(2, l, 8, 64, 2, 64)[:5]]
    ref = _grads(lambda *a: ssd_chunked(*a, chunk_size=64), inputs)
    ker = _grads(lambda *a: kernels.ssd(*a, chunk_size=64, initial_state=None), inputs)
    assert rel_err(ker[0], ref[0]) < 1e-3 and rel_err(ker[1], ref[1]) < 1e-3
    for g_ref, g_ker in zip(ref[2], ker[2]):
        assert rel_err(g_ker, g_ref) < 5e-3


@needs_cuda
@pytest.mark.parametrize("l", [64, 1000, 4097], ids=lambda l: f"B2-T{l}-H4")
def test_gated_delta_rule_kernel_matches_reference(l):
    _require("gdn")
    q, k, v, g, beta, _ = (t.cuda() for t in gdr_inputs(2, l, 4, 64, 128))
    inputs = [q, k, v, g, beta]
    scale = 64**-0.5
    ref = _grads(lambda *a: gated_delta_rule_chunked(*a, chunk_size=64, scale=scale), inputs)
    ker = _grads(lambda *a: kernels.gated_delta_rule(*a, scale=scale, initial_state=None), inputs)
    assert rel_err(ker[0], ref[0]) < 1e-3 and rel_err(ker[1], ref[1]) < 1e-3
    for g_ref, g_ker in zip(ref[2], ker[2]):
        assert rel_err(g_ker, g_ref) < 5e-3


@needs_cuda
def test_causal_conv_kernel_matches_reference(monkeypatch):
    _require("conv")
    from eegssm.nn.conv import CausalDepthwiseConv1d

    conv = CausalDepthwiseConv1d(64, 4).cuda()
    x = torch.randn(2, 500, 64, device="cuda")
    y_kernel, tail_kernel = conv(x)
    monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    y_ref, tail_ref = conv(x)
    assert rel_err(y_kernel, y_ref) < 1e-5
    torch.testing.assert_close(tail_kernel, tail_ref)
