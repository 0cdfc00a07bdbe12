"""CUDA kernel parity: pure-PyTorch reference vs mamba_ssm / causal_conv1d / fla kernels.

Marked ``gpu`` (excluded by default). Run with ``pytest -m gpu`` on a machine with CUDA and the
``cuda`` extra installed (``pip install -e '.[cuda]'``). Forward and backward, fp32, relative RMS
error against the reference computed on the same device.
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


def _grads(fn, inputs):
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    out, state = fn(*leaves)
    torch.manual_seed(0)
    (out * torch.randn_like(out)).sum().add(state.float().sum()).backward()
    return out.detach(), state.detach(), [t.grad for t in leaves]


@needs_cuda
@pytest.mark.skipif(not kernels.available("ssd"), reason="mamba_ssm not importable")
@pytest.mark.parametrize("l", [64, 1000, 4097], ids=lambda l: f"B2-T{l}-H8")
def test_ssd_kernel_matches_reference(l):
    inputs = [t.cuda() for t in ssd_inputs(2, l, 8, 64, 2, 64)[:5]]
    ref = _grads(lambda *a: ssd_chunked(*a, chunk_size=64), inputs)
    ker = _grads(lambda *a: kernels.ssd(*a, chunk_size=64, initial_state=None), inputs)
    assert rel_err(ker[0], ref[0]) < 1e-3 and rel_err(ker[1], ref[1]) < 1e-3
    for g_ref, g_ker in zip(ref[2], ker[2]):
        assert rel_err(g_ker, g_ref) < 5e-3


@needs_cuda
@pytest.mark.skipif(not kernels.available("gdn"), reason="fla not importable")
@pytest.mark.parametrize("l", [64, 1000, 4097], ids=lambda l: f"B2-T{l}-H4")
def test_gated_delta_rule_kernel_matches_reference(l):
    q, k, v, g, beta, _ = (t.cuda() for t in gdr_inputs(2, l, 4, 64, 128))
    inputs = [q, k, v, g, beta]
    scale = 64**-0.5
    ref = _grads(lambda *a: gated_delta_rule_chunked(*a, chunk_size=64, scale=scale), inputs)
    ker = _grads(lambda *a: kernels.gated_delta_rule(*a, scale=scale, initial_state=None), inputs)
    assert rel_err(ker[0], ref[0]) < 1e-3 and rel_err(ker[1], ref[1]) < 1e-3
    for g_ref, g_ker in zip(ref[2], ker[2]):
        assert rel_err(g_ker, g_ref) < 5e-3


@needs_cuda
@pytest.mark.skipif(not kernels.available("conv"), reason="causal_conv1d not importable")
def test_causal_conv_kernel_matches_reference(monkeypatch):
    from eegssm.nn.conv import CausalDepthwiseConv1d

    conv = CausalDepthwiseConv1d(64, 4).cuda()
    x = torch.randn(2, 500, 64, device="cuda")
    y_kernel, tail_kernel = conv(x)
    monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    y_ref, tail_ref = conv(x)
    assert rel_err(y_kernel, y_ref) < 1e-5
    torch.testing.assert_close(tail_kernel, tail_ref)
