"""``eegssm doctor``: torch and device, kernel packages with the reason when unusable, the backend
per core on CPU and CUDA, and the kernel constraints of the bundled configurations.

In-process tests fake the kernel statuses (no kernel package is imported into the test process:
that would break the interpreter tier if it ran later in the same process); one test runs the
real command in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from eegssm import cli
from eegssm.commands import doctor
from eegssm.commands.doctor import CPU_SCAN, ENGINE, SCIPY_FILTER, STREAM_ENGINE
from eegssm.nn import GatedDeltaNet, Mamba2, cpu_scan, kernels
from eegssm.preprocessing import iir

REASON = "ModuleNotFoundError: No module named 'selective_scan_cuda' (mamba-ssm was built ...)"


@pytest.fixture
def fake_status(monkeypatch):
    """mamba-ssm installed but broken, causal-conv1d missing, fla usable."""

    def status(name):
        kernel = kernels.KERNELS[name]
        usable = name == "gdn"
        reason = {"ssd": REASON, "conv": "causal-conv1d is not installed"}.get(name)
        return kernels.KernelStatus(
            name=name,
            distribution=kernel.distribution,
            function=f"{kernel.entry}.{kernel.function}",
            installed=name != "conv",
            version={"ssd": "2.3.2.post1", "gdn": "0.6.0"}.get(name),
            usable=usable,
            reason=reason,
        )

    monkeypatch.setattr(kernels, "status", status)


def _json(capsys, *args) -> dict:
    assert cli.main(["doctor", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_doctor_backends_per_core(fake_status, capsys):
    info = _json(capsys)
    assert info["torch"] and isinstance(info["cuda_available"], bool)
    pkgs = info["packages"]
    assert pkgs["ssd"]["package"] == "mamba-ssm" and pkgs["ssd"]["reason"] == REASON
    assert pkgs["gdn"]["package"] == "fla-core" and pkgs["gdn"]["usable"]
    assert not pkgs["conv"]["installed"] and "triton" in pkgs
    mamba, gdn = info["cores"]["mamba2"], info["cores"]["gated_deltanet"]
    cpu = CPU_SCAN if cpu_scan.available() else f"PyTorch reference ({cpu_scan.reason()})"
    assert mamba["scan"]["cpu"] == cpu
    assert mamba["scan"]["cuda"] == f"PyTorch reference ({REASON})"
    assert mamba["conv"]["cuda"] == "PyTorch reference (causal-conv1d is not installed)"
    assert gdn["delta rule"]["cpu"] == "PyTorch reference"
    assert gdn["delta rule"]["cuda"] == "fla 0.6.0 chunk_gated_delta_rule"


def test_doctor_cpu_scan_missing(fake_status, capsys, monkeypatch):
    """Without the C extension, the CPU scan is the PyTorch reference and says why."""
    monkeypatch.setattr(cpu_scan, "_MISSING", "the C extension eegssm.nn._scan is not built (x)")
    info = _json(capsys)
    assert info["cores"]["mamba2"]["scan"]["cpu"] == (
        "PyTorch reference (the C extension eegssm.nn._scan is not built (x))"
    )


def test_doctor_names_the_filter_backend(fake_status, capsys, monkeypatch):
    """The C filter where it is built, else scipy.signal with the reason; in text and JSON."""
    expected = iir.C_FILTER if iir.available() else f"{SCIPY_FILTER} ({iir.reason()})"
    assert _json(capsys)["filter"] == expected
    monkeypatch.setattr(iir, "_MISSING", "the C extension eegssm.preprocessing._iir is not built")
    assert _json(capsys)["filter"] == (
        f"{SCIPY_FILTER} (the C extension eegssm.preprocessing._iir is not built)"
    )
    assert cli.main(["doctor"]) == 0
    assert f"preprocessing filters: {SCIPY_FILTER} (" in capsys.readouterr().out
    monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    assert _json(capsys)["filter"] == f"{SCIPY_FILTER} (EEGSSM_DISABLE_KERNELS=1)"


def test_doctor_interpreter_and_kill_switch(fake_status, capsys, monkeypatch):
    kernels.set_cpu_interpreter(True)
    try:
        info = _json(capsys)
    finally:
        kernels.set_cpu_interpreter(False)
    cores = info["cores"]
    assert cores["gated_deltanet"]["delta rule"]["cpu"] == (
        "Triton interpreter: fla 0.6.0 chunk_gated_delta_rule"
    )
    assert cores["mamba2"]["scan"]["cpu"] == f"PyTorch reference ({REASON})"
    monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    info = _json(capsys)
    assert info["kernels_disabled"]
    for parts in info["cores"].values():
        for devices in parts.values():
            assert all("EEGSSM_DISABLE_KERNELS" in b for b in devices.values())


def test_doctor_text(fake_status, capsys):
    assert cli.main(["doctor"]) == 0
    text = capsys.readouterr().out
    needles = ["mamba-ssm", "fla-core", "causal-conv1d", "NOT usable: " + REASON, "mamba2 scan",
               "gated_deltanet delta rule", "on CPU:", "on CUDA:", "checkpoint default",
               "checkpoint causal", "EEGM2 paper", "EEGM2 cpu"]  # fmt: skip
    for needle in needles:
        assert needle in text, needle


def test_layer_constraints_flag_what_the_kernels_cannot_take():
    good = Mamba2(32, d_state=16, headdim=32)  # conv channels 64 + 32 = 96, width 4
    bad = Mamba2(10, d_state=3, headdim=5, d_conv=5)  # 20 + 6 = 26 channels, width 5
    wide = GatedDeltaNet(16, num_heads=1, head_dim=300, expand_v=1)
    (g,) = doctor.layer_constraints(good)
    assert g["conv_channels"] == 96 and g["d_conv"] == 4 and g["conv_kernel"]
    (b,) = doctor.layer_constraints(bad)
    assert b["conv_channels"] == 26 and not b["conv_kernel"]
    (w,) = doctor.layer_constraints(wide)
    assert w["head_dim"] == 300 and not w["fla_kernel"]


def test_bundled_configurations_meet_the_kernel_constraints():
    """Every layer of the bundled checkpoints and presets can use causal_conv1d and fla."""
    report = doctor.constraint_report()
    assert {"checkpoint default", "checkpoint causal", "EEGM2 paper", "EEGM2 cpu"} <= set(report)
    for name, layers in report.items():
        assert layers, name
        for layer in layers:
            assert layer["conv_kernel"] and layer.get("fla_kernel", True), (name, layer)


def test_doctor_command_end_to_end():
    """The real command (kernel packages imported if installed) in its own process."""
    out = subprocess.run(
        [sys.executable, "-m", "eegssm.cli", "doctor"], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    for needle in ("torch", "mamba-ssm", "fla-core", "causal-conv1d", "mamba2 scan",
                   "gated_deltanet delta rule", "on CUDA:", "checkpoint default"):  # fmt: skip
        assert needle in out.stdout, needle


def test_doctor_names_what_runs_detect(fake_status, capsys, monkeypatch):
    """The PyTorch-free engine where its kernels are built, else PyTorch with the reason."""
    from eegssm import engine

    off = engine.unavailable()
    info = _json(capsys)
    assert info["detect_model"] == (ENGINE if off is None else f"PyTorch ({off})")
    assert info["monitor_model"] == (STREAM_ENGINE if off is None else f"PyTorch ({off})")
    monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    info = _json(capsys)
    assert info["detect_model"] == "PyTorch (EEGSSM_DISABLE_KERNELS=1)"
    assert info["monitor_model"] == "PyTorch (EEGSSM_DISABLE_KERNELS=1)"
    assert cli.main(["doctor"]) == 0
    assert (
        "detect, bundled checkpoint: PyTorch (EEGSSM_DISABLE_KERNELS=1)" in capsys.readouterr().out
    )
