"""Shorter OpenMP busy-waits for the command line (eegssm.openmp)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from eegssm import openmp

PROBE = """
import os, sys
from eegssm.openmp import shorten_openmp_spin
if sys.argv[1] == "torch-first":
    import torch
print(shorten_openmp_spin(), os.environ.get("GOMP_SPINCOUNT"), os.environ.get("OMP_WAIT_POLICY"))
"""


def _clean_env() -> dict[str, str]:
    """This environment without the OpenMP wait settings."""
    return {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}


def _probe(mode: str, **env: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], env={**_clean_env(), **env}, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return out.stdout.split()


def test_sets_the_spin_count_before_torch_is_imported():
    assert _probe("fresh") == ["True", str(openmp.SPIN_COUNT), "None"]


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


def test_the_console_entry_point_applies_it():
    code = (
        "import os, eegssm.cli as cli\n"
        "cli.main = lambda: print(os.environ.get('GOMP_SPINCOUNT')) or 0\n"
        "cli.run()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [str(openmp.SPIN_COUNT)]


def test_the_library_leaves_the_environment_alone():
    code = "import os, eegssm, eegssm.detection; print(os.environ.get('GOMP_SPINCOUNT'))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=_clean_env(), capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["None"]
