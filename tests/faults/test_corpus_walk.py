"""Corpus walks survive symlink loops and unreadable folders (case 10 of issue 20): a loop used
to abort the whole ``build-cache`` (``RuntimeError: Symlink loop`` from ``Path.resolve``); an
unreadable folder was skipped silently. Both are now logged and skipped, the rest is built.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from eegssm.commands.detect import find_inputs
from eegssm.data.cache import build_cache
from eegssm.data.discovery import find_recordings
from eegssm.data.synthetic import make_recording
from eegssm.io.annotations import write_edf

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    for folder, name in (("s0", "rec0.edf"), ("locked", "rec1.edf"), ("s2/deep", "rec2.edf")):
        (root / folder).mkdir(parents=True)
        write_edf(root / folder / name, make_recording(20, n_seizures=0, seed=len(name)))
    (root / "s0" / "up").symlink_to("..")  # a loop back to the corpus
    (root / "loop1").symlink_to("loop2")  # a loop of two links
    (root / "loop2").symlink_to("loop1")
    (root / "s2" / "alias").symlink_to(root / "s2" / "deep")  # the same folder twice
    (root / "dangling.edf").symlink_to(root / "nowhere.edf")
    return root


@pytest.fixture
def locked(monkeypatch, corpus):
    """``corpus/locked`` cannot be listed (tests run as root, who may read anything: the
    permission error is injected where the walk lists folders)."""
    real = os.scandir

    def scandir(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    return corpus / "locked"


def test_walk_skips_loops_and_unreadable_folders_with_a_warning(corpus, locked, caplog):
    with caplog.at_level(logging.WARNING, logger="eegssm.data.discovery"):
        found = find_recordings(corpus)
    rel = [p.relative_to(corpus).as_posix() for p in found]
    assert rel == ["s0/rec0.edf", "s2/alias/rec2.edf"] or rel == ["s0/rec0.edf", "s2/deep/rec2.edf"]
    said = caplog.text
    assert f"{locked}: cannot read folder (Permission denied); skipped" in said
    assert "symbolic link loop" in said


def test_build_cache_goes_on_past_loops_and_unreadable_folders(corpus, locked, tmp_path):
    report = build_cache(corpus, tmp_path / "cache", progress=False)
    assert report.n_found == 2 and len(report.built) == 2 and not report.failed


def test_detect_finds_inputs_past_loops(corpus, locked):
    assert len(find_inputs([str(corpus)])) == 2


def test_unreadable_recording_is_logged_and_skipped(corpus, tmp_path, monkeypatch, caplog):
    """A recording that cannot be opened (no read permission) becomes a failed entry with the
    reason, logged; the others are cached and the build succeeds."""
    import eegssm.io.read as reader

    real = reader.read_edf_header

    def header(path):
        if Path(path).name == "rec1.edf":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(reader, "read_edf_header", header)
    with caplog.at_level(logging.WARNING, logger="eegssm.data.cache"):
        report = build_cache(corpus, tmp_path / "cache", progress=False)
    assert len(report.built) == 2 and [f["relpath"] for f in report.failed] == ["locked/rec1.edf"]
    assert "Permission denied" in report.failed[0]["reason"]
    assert "failed locked/rec1.edf" in caplog.text
