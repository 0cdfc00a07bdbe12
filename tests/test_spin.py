"""Shorter busy-waits of OpenMP and OpenBLAS workers for the command line (eegssm.spin)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from eegssm import spin

PROBE = """
import os, sys
from eegssm.spin import shorten_openmp_spin
if sys.argv[1] == "torch-first":
    import torch
print(shorten_openmp_spin(), os.environ.get("GOMP_SPINCOUNT"), os.environ.get("OMP_WAIT_POLICY"))
"""


SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")


def _clean_env() -> dict[str, str]:
    """This environment without the wait settings."""
    return {k: v for k, v in os.environ.items() if k not in SETTINGS}


def _probe(mode: str, **env: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env={**_clean_env(), **env}, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return out.stdout.split()


def test_sets_the_spin_count_before_torch_is_imported():
    assert _probe("fresh") == ["True", str(spin.SPIN_COUNT), "None"]


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"GOMP_SPINCOUNT": "5"}, ["False", "5", "None"]),
        ({"OMP_WAIT_POLICY": "ACTIVE"}, ["False", "None", "ACTIVE"]),
    ],
)
def test_a_setting_of_the_user_is_kept(env, expected):
    assert _probe("fresh", **env) == expected


def test_too_late_once_torch_is_imported():
    assert _probe("torch-first") == ["False", "None", "None"]


OPENBLAS_PROBE = """
import os, sys
from eegssm.spin import shorten_openblas_spin
if sys.argv[1] == "numpy-first":
    import numpy
print(shorten_openblas_spin(), os.environ.get("OPENBLAS_THREAD_TIMEOUT"))
"""


@pytest.mark.parametrize(
    "mode, env, expected",
    [
        ("fresh", {}, ["True", str(spin.OPENBLAS_TIMEOUT)]),
        ("fresh", {"OPENBLAS_THREAD_TIMEOUT": "28"}, ["False", "28"]),
        ("numpy-first", {}, ["False", "None"]),
    ],
)
def test_openblas_timeout_set_before_numpy_unless_the_user_set_it(mode, env, expected):
    out = subprocess.run(
        [sys.executable, "-c", OPENBLAS_PROBE, mode], env={**_clean_env(), **env},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.split() == expected


def test_openblas_workers_stop_spinning_sooner():
    """The setting reaches OpenBLAS: after ``import numpy`` its idle workers spin for ~0.1 s
    by default (CPU time above wall time in a one-line process); with the setting they sleep
    at once."""
    np = pytest.importorskip("numpy")
    if (os.cpu_count() or 1) < 2 or "openblas" not in str(np.show_config(mode="dicts")).lower():
        pytest.skip("needs numpy with OpenBLAS and two cores")
    code = (
        "import os, time; t = time.perf_counter(); c = time.process_time(); import numpy; "
        "print(time.process_time() - c - (time.perf_counter() - t))"
    )

    def spun(best, **env: str) -> float:  # CPU seconds beyond the wall time, best of 3
        runs = [
            subprocess.run(
                [sys.executable, "-c", code],
                env={**_clean_env(), **env},
                capture_output=True,
                text=True,
                check=True,
            ).stdout  # fmt: skip
            for _ in range(3)
        ]
        return best(float(r) for r in runs)

    assert spun(min, OPENBLAS_THREAD_TIMEOUT=str(spin.OPENBLAS_TIMEOUT)) < 0.02 < spun(max)


def test_the_console_entry_point_applies_them():
    code = (
        "import os, eegssm.cli as cli\n"
        "cli.main = lambda: print(os.environ.get('GOMP_SPINCOUNT'),"
        " os.environ.get('OPENBLAS_THREAD_TIMEOUT')) or 0\n"
        "cli.run()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [str(spin.SPIN_COUNT), str(spin.OPENBLAS_TIMEOUT)]


def test_the_library_leaves_the_environment_alone():
    code = (
        "import os, eegssm, eegssm.detection; "
        "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None", "None"]
