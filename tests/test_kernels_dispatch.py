"""The lazy kernel loader (``eegssm.nn.kernels``) without any kernel package: probing does not
import, a failed import keeps its reason, CUDA fallback warns once, and building and running the
layers on a CPU never imports a kernel package (start-up stays fast)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
import warnings

import pytest
import torch

from eegssm.nn import kernels


@pytest.fixture
def fake_kernels(tmp_path, monkeypatch):
    """Two fake kernel packages on ``sys.path``: ``okkernel`` (imports) and ``badkernel`` (raises
    on import), registered as kernels ``ok`` and ``bad``; plus ``gone`` (not installed)."""
    (tmp_path / "okkernel").mkdir()
    (tmp_path / "okkernel" / "__init__.py").write_text("def entry(*a, **k):\n    return 'ran'\n")
    (tmp_path / "badkernel").mkdir()
    (tmp_path / "badkernel" / "__init__.py").write_text(
        "raise ImportError('libcudart.so.12: cannot open shared object file')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = dict(kernels.KERNELS)
    for name, module in (("ok", "okkernel"), ("bad", "badkernel"), ("gone", "gonekernel_x")):
        registry[name] = kernels.Kernel(name, module, f"{module}-dist", module, "entry", "ref")
    monkeypatch.setattr(kernels, "KERNELS", registry)
    monkeypatch.setattr(kernels, "_reasons", {})
    monkeypatch.setattr(kernels, "_warned", set())
    kernels._load.cache_clear()
    yield
    kernels._load.cache_clear()
    for module in ("okkernel", "badkernel"):
        sys.modules.pop(module, None)


def test_probe_does_not_import(fake_kernels):
    assert kernels.installed("ok") and kernels.installed("bad")
    assert not kernels.installed("gone")
    assert "okkernel" not in sys.modules and "badkernel" not in sys.modules


def test_failed_import_keeps_its_reason(fake_kernels):
    ok, bad, gone = (kernels.status(n) for n in ("ok", "bad", "gone"))
    assert ok.usable and ok.reason is None and kernels.reason("ok") is None
    assert not bad.usable and bad.installed
    assert bad.reason.startswith("ImportError: libcudart.so.12: cannot open shared object file")
    assert "built for another torch/CUDA" in bad.reason  # the hint for a known cause
    assert not gone.installed and gone.reason == "gonekernel_x-dist is not installed"


def test_cuda_fallback_warns_once_with_the_reason(fake_kernels):
    cuda_tensor = types.SimpleNamespace(is_cuda=True, device=torch.device("cuda"))
    with pytest.warns(
        RuntimeWarning, match="badkernel-dist is installed but not usable.*libcudart"
    ):
        assert not kernels._use("bad", cuda_tensor)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not kernels._use("bad", cuda_tensor)  # once only
        assert not kernels._use("gone", cuda_tensor)  # not installed: no warning
    assert kernels._use("ok", cuda_tensor)


def test_cpu_tensors_use_kernels_only_when_interpreting(fake_kernels, monkeypatch):
    x = torch.zeros(2, 3)
    assert not kernels._use("ok", x)
    kernels.set_cpu_interpreter(True)
    try:
        assert kernels._use("ok", x) and kernels.cpu_interpreter()
        monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
        assert not kernels._use("ok", x)
    finally:
        kernels.set_cpu_interpreter(False)


def test_kernel_constraints():
    assert kernels.conv_supported(64, 4) and kernels.conv_supported(8, 2)
    assert not kernels.conv_supported(60, 4)  # channels not a multiple of 8
    assert not kernels.conv_supported(64, 5) and not kernels.conv_supported(64, 1)  # widths 2-4


def test_cpu_layers_never_import_kernel_packages():
    """Building and running both cores on a CPU imports no kernel package (nor triton or
    transformers): ``eegssm`` start-up does not pay for them."""
    code = textwrap.dedent(
        """
        import sys, torch
        from eegssm.nn import GatedDeltaNet, Mamba2
        x = torch.randn(1, 20, 16)
        Mamba2(16, d_state=8, headdim=8)(x).sum().backward()
        GatedDeltaNet(16, num_heads=2, head_dim=8)(x).sum().backward()
        import eegssm.cli
        eegssm.cli.build_parser()
        heavy = [m for m in ("mamba_ssm", "fla", "causal_conv1d", "triton", "transformers")
                 if m in sys.modules]
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr
