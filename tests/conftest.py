"""Shared test fixtures.

``shared_data``: the real EEG folder ``../shared/data`` beside the repository (read-only). Tests
that use it are skipped cleanly where it is absent (a user's clone does not have it).
``scoring_cases``: the NEDC / SzCORE golden scoring cases vendored in ``tests/data`` (always there).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EEGSSM_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
SCORING_CASES = REPO_ROOT / "tests" / "data" / "scoring_cases"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ``../shared/data``; skips the test if the folder is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder not found: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def scoring_cases() -> Path:
    """The vendored golden scoring cases (``tests/data/scoring_cases``, see its README)."""
    return SCORING_CASES
