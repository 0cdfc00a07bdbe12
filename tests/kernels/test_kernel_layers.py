"""Whole layers and models through both dispatches: the kernels (``mamba_ssm`` / ``fla``, on the
tier's device) and the PyTorch reference (``EEGSSM_DISABLE_KERNELS=1``) give the same outputs and
the same gradients of the input and of every parameter. Each test also checks that the kernel
was really called (and not called with kernels disabled). Tolerances: ``_parity.py``.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from eegssm.checkpoints import checkpoint_path
from eegssm.models.detector import SeizureDetector
from eegssm.models.eegm2 import EEGM2
from eegssm.nn import GatedDeltaNet, Mamba2, kernels

from _parity import CORE_TOL, MODEL_TOL, assert_close, cotangents

pytestmark = pytest.mark.kernels


@pytest.fixture
def calls(monkeypatch):
    """Counts calls of ``kernels.ssd`` and ``kernels.gated_delta_rule``."""
    counter = Counter()
    for name in ("ssd", "gated_delta_rule"):
        fn = getattr(kernels, name)

        def counted(*args, _fn=fn, _name=name, **kwargs):
            counter[_name] += 1
            return _fn(*args, **kwargs)

        monkeypatch.setattr(kernels, name, counted)
    return counter


def _forward_backward(model, inputs, forward):
    """Outputs, and gradients of the inputs and of every parameter (name → tensor)."""
    model.zero_grad(set_to_none=True)
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    outs = forward(model, *leaves)
    outs = outs if isinstance(outs, tuple) else (outs,)
    torch.autograd.backward(outs, cotangents(outs))
    grads = {f"input{i}": t.grad for i, t in enumerate(leaves)}
    grads.update({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    return [o.detach() for o in outs], grads


def _both_dispatches(model, inputs, device, calls, monkeypatch, kernel, forward=None):
    """Run through the kernels, then through the reference; compare everything."""
    forward = forward or (lambda m, *xs: m(*xs))
    model = model.to(device).eval()  # eval: no dropout; gradients are still computed
    inputs = [t.to(device) for t in inputs]
    out_k, grads_k = _forward_backward(model, inputs, forward)
    assert calls[kernel] > 0, f"kernels.{kernel} was not called"
    used = calls[kernel]
    monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    out_r, grads_r = _forward_backward(model, inputs, forward)
    assert calls[kernel] == used, "a kernel was called with EEGSSM_DISABLE_KERNELS=1"
    monkeypatch.delenv("EEGSSM_DISABLE_KERNELS")
    assert grads_k.keys() == grads_r.keys()
    tol = MODEL_TOL[device.type]
    kind = type(model).__name__
    assert_close(out_k, out_r, tol, [f"out{i}" for i in range(len(out_k))], f"{kind} outputs")
    names = list(grads_r)
    assert_close([grads_k[n] for n in names], [grads_r[n] for n in names], tol, names,
                 f"{kind} gradients")  # fmt: skip
    return out_k


def test_mamba2_layer_both_dispatches(ssd_kernel, calls, monkeypatch):
    """``Mamba2`` (2 groups, 4 heads, length 45 with chunk 32, batch 2): kernel with fused dt
    bias/softplus/D vs the fused PyTorch conv + scan."""
    torch.manual_seed(0)
    layer = Mamba2(16, d_state=8, headdim=8, ngroups=2, chunk_size=32)
    u = torch.randn(2, 45, 16)
    _both_dispatches(layer, [u], ssd_kernel, calls, monkeypatch, "ssd")


def test_gated_deltanet_layer_both_dispatches(gdn_kernel, calls, monkeypatch):
    """``GatedDeltaNet`` (2 heads of key width 8, length 45, batch 2)."""
    torch.manual_seed(0)
    layer = GatedDeltaNet(16, num_heads=2, head_dim=8, chunk_size=16)
    u = torch.randn(2, 45, 16)
    _both_dispatches(layer, [u], gdn_kernel, calls, monkeypatch, "gated_delta_rule")


@pytest.mark.parametrize("core", ["mamba2", "gated_deltanet"])
def test_layer_streaming_pieces_equal_whole(both_kernels, calls, monkeypatch, core):
    """A layer fed in two pieces with its state carried (conv tail + SSM state), through the
    kernels, equals the whole sequence through the kernels and through the reference, with
    gradients flowing through the hand-off."""
    device = both_kernels
    torch.manual_seed(1)
    if core == "mamba2":
        layer, kernel = Mamba2(8, d_state=8, headdim=8, chunk_size=32), "ssd"
    else:
        layer, kernel = GatedDeltaNet(8, num_heads=2, head_dim=8), "gated_delta_rule"
    u = torch.randn(2, 50, 8)

    def pieces(m, x):
        y1, state = m(x[:, :21], return_state=True)
        y2, state = m(x[:, 21:], state, return_state=True)
        final = state.ssm if core == "mamba2" else state.S
        return torch.cat([y1, y2], dim=1), final

    def whole(m, x):
        y, state = m(x, return_state=True)
        return y, state.ssm if core == "mamba2" else state.S

    layer = layer.to(device)
    in_pieces = _both_dispatches(layer, [u], device, calls, monkeypatch, kernel, pieces)
    in_whole = _both_dispatches(layer, [u], device, calls, monkeypatch, kernel, whole)
    tol = CORE_TOL[device.type] * 10  # two float32 kernel runs, one layer
    assert_close(in_pieces, in_whole, tol, ["y", "final_state"], f"{core} pieces vs whole")


def _detector_input(n_chans=3, frames=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, n_chans, 64 * frames, generator=gen)


def test_seizure_detector_bundled_causal_checkpoint(ssd_kernel, calls, monkeypatch):
    """The bundled ``causal`` checkpoint (fast preset, Mamba-2, trained weights) on 3 electrodes
    (per-electrode weights: any count works; with 3, top-3 adjacency keeps every edge, so no
    top-k choice can flip on a rounding difference) and 16 feature frames (4 s at 256 Hz)."""
    bundled = SeizureDetector.from_pretrained(checkpoint_path("causal"))
    model = SeizureDetector(n_chans=3, config=bundled.config)
    model.load_state_dict(bundled.state_dict())
    _both_dispatches(model, [_detector_input()], ssd_kernel, calls, monkeypatch, "ssd")


def test_seizure_detector_gated_deltanet(gdn_kernel, calls, monkeypatch):
    """The fast preset with the Gated DeltaNet core, bidirectional (random weights)."""
    torch.manual_seed(2)
    model = SeizureDetector.from_preset("fast", n_chans=3, core="gated_deltanet")
    x = _detector_input(seed=3)
    _both_dispatches(model, [x], gdn_kernel, calls, monkeypatch, "gated_delta_rule")


def test_eegm2_cpu_preset(ssd_kernel, calls, monkeypatch):
    """EEGM2 (``cpu`` preset: four Mamba-2 blocks with d_conv 2, at T, T/8, T/4, T/2) on 4
    channels, T = 100 (not a multiple of 8: padded and cropped)."""
    torch.manual_seed(4)
    model = EEGM2.from_preset("cpu", n_chans=4)
    x = torch.randn(1, 4, 100, generator=torch.Generator().manual_seed(5))
    _both_dispatches(model, [x], ssd_kernel, calls, monkeypatch, "ssd")
