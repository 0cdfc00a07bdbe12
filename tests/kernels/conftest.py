"""The kernel-parity tier: ``mamba_ssm`` / ``fla`` kernels against the PyTorch references.

Every test module here is marked ``kernels`` (excluded from the default run). ``make test-kernels``
installs the kernel packages and runs the tier: natively on a CUDA machine, under Triton's
interpreter on CPU tensors otherwise (``_interpret.py``, applied per test). A test whose kernel
package is missing skips, unless ``EEGSSM_REQUIRE_KERNELS=1`` (set by ``make test-kernels``) makes
that a failure: a tier that skips everything must not look green.
"""

from __future__ import annotations

import os
import time

import pytest
import torch

from eegssm.nn import kernels

import _interpret


def _require(*names: str) -> None:
    """Skip (or fail, under ``EEGSSM_REQUIRE_KERNELS=1``) unless every kernel is importable."""
    for name in names:
        if not kernels.available(name):
            message = f"{kernels.KERNELS[name].distribution}: {kernels.reason(name)}"
            if os.environ.get("EEGSSM_REQUIRE_KERNELS") == "1":
                pytest.fail(message)
            pytest.skip(message)


@pytest.fixture
def device():
    """The device the kernels run on: CUDA, or the CPU under Triton's interpreter."""
    if not _interpret.needed():
        yield torch.device("cuda")
        return
    try:
        _interpret.activate()
    except RuntimeError as err:
        pytest.fail(str(err))
    yield torch.device("cpu")
    _interpret.deactivate()


@pytest.fixture
def ssd_kernel(device):
    _require("ssd")
    return device


@pytest.fixture
def gdn_kernel(device):
    _require("gdn")
    return device


@pytest.fixture
def both_kernels(device):
    _require("ssd", "gdn")
    return device


_CPU_SECONDS: dict[str, float] = {}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """CPU seconds of each test (steadier than wall time on a shared machine)."""
    start = time.process_time()
    yield
    _CPU_SECONDS[item.nodeid] = time.process_time() - start


def pytest_terminal_summary(terminalreporter):
    import _parity

    if _parity.MAX_ERRORS:
        terminalreporter.section("kernel parity: largest relative RMS error per comparison")
        for kind, err in sorted(_parity.MAX_ERRORS.items()):
            terminalreporter.write_line(f"{kind:<50} {err:.2e}")
    if _CPU_SECONDS:
        total = sum(_CPU_SECONDS.values())
        terminalreporter.section(f"kernel tier: CPU seconds per test (total {total:.0f})")
        for nodeid, sec in sorted(_CPU_SECONDS.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{sec:7.1f}  {nodeid.split('::', 1)[-1]}")
