"""Writes on a full disk (cases 1, 4 and 8 of issue 20): a tmpfs of a few kB or MB mounted in a
private mount namespace, so that writes end in ``ENOSPC`` as on a real full disk.

Expected everywhere: a one-line ``error:`` naming the file and the cause, a non-zero exit, and
nothing half-written left behind (no temporary file, no partial set of outputs).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from eegssm.data.synthetic import make_recording
from eegssm.io.annotations import write_edf

from _faults import PAGE, PYTHON, require_tmpfs, run_on_small_fs

pytestmark = [pytest.mark.timeout(600), pytest.mark.faults]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Two 2-minute 19-channel recordings (seizure preset: ~8 MB of windows each)."""
    root = tmp_path_factory.mktemp("corpus")
    for i in range(2):
        folder = root / f"s{i}"
        folder.mkdir()
        write_edf(folder / f"rec{i}.edf", make_recording(120, n_seizures=0, seed=i))
    return root


def _eegssm(*args: str) -> list[str]:
    return [PYTHON, "-m", "eegssm.cli", *args]


@pytest.mark.parametrize("workers", [1, 2])
def test_build_cache_on_a_full_disk_stops_cleanly(tmp_path, corpus, workers):
    """Case 1: was SIGBUS (writes through a memory map of a sparse file) with a 50 MB ``.tmp``
    left behind; now ENOSPC is an error naming the array, exit 1, and no temporary file or
    array of the recording being written remains."""
    require_tmpfs()
    mount = tmp_path / "disk"
    run = run_on_small_fs(
        mount,
        4 << 20,
        _eegssm(
            "build-cache",
            "--data-dir",
            str(corpus),
            "--cache-dir",
            str(mount / "cache"),
            "--workers",
            str(workers),
            "--no-progress",
        ),  # fmt: skip
    )
    assert run.rc == 1, (run.rc, run.stderr[-3000:])
    assert "Traceback" not in run.stderr
    (line,) = run.error_lines
    assert "cannot write (No space left on device)" in line and ".npy" in line
    assert not [f for f in run.files if f.endswith(".tmp")], run.files
    arrays = [f for f in run.files if f.startswith("cache/arrays/")]
    entries = [f for f in run.files if f.startswith("cache/entries/")]
    for array in arrays:  # every array left belongs to a committed entry
        key = Path(array).name.split(".")[0]
        assert f"cache/entries/{key}.json" in entries, (array, run.files)


@pytest.fixture(scope="module")
def edf(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("detect") / "night.edf"
    return write_edf(path, make_recording(90, n_seizures=1, seed=3, seizure_duration_s=(10, 30)))


def test_detect_on_a_full_disk_writes_nothing(tmp_path, edf):
    """Case 4: was mixed and 0-byte outputs (csv_bi and events.tsv not atomic, written before
    the JSON failed); now a recording's files appear together or not at all."""
    require_tmpfs()
    mount = tmp_path / "disk"
    run = run_on_small_fs(
        mount,
        256 << 10,
        _eegssm("detect", str(edf), "--out", str(mount / "out"), "-q"),
        free=2 * PAGE,  # room for the csv_bi and the tsv, not for the JSON
        mkdirs=("out",),
    )
    assert run.files == {}, run.files
    assert run.rc == 1, (run.rc, run.stderr[-3000:])
    assert "Traceback" not in run.stderr
    (line,) = run.error_lines
    assert "No space left on device" in line and "night" in line


_LONG = r"""
import os, sys, tempfile
os.environ["TMPDIR"] = tempfile.tempdir = sys.argv[1]
import eegssm.preprocessing.blockwise as blockwise
blockwise.IN_MEMORY_BYTES = 0  # read block by block, as a long recording
from eegssm import engine
run = engine.DetectorEngine.logits_blocks
defaults = list(run.__defaults__)
defaults[1] = 0  # memory_bytes: the electrode features go to a temporary file
run.__defaults__ = tuple(defaults)
from eegssm.cli import main
sys.exit(main(["detect", sys.argv[2], "--out", sys.argv[3], "-q"]))
"""


def test_detect_with_a_full_temporary_folder_is_one_error_line(tmp_path, edf):
    """A long recording keeps its electrode features in a temporary file (a day: 0.8 GB): with
    no room there, one error line names the file and says to point TMPDIR elsewhere; the
    temporary folder is removed and no output is written."""
    require_tmpfs()
    mount = tmp_path / "disk"
    out = tmp_path / "out"
    run = run_on_small_fs(
        mount, 64 << 10, [PYTHON, "-c", _LONG, str(mount / "tmp"), str(edf), str(out)],
        mkdirs=("tmp",),
    )  # fmt: skip
    assert run.rc == 1, (run.rc, run.stderr[-3000:])
    assert "Traceback" not in run.stderr
    (line,) = run.error_lines
    assert "features.f32" in line and "No space left on device" in line and "TMPDIR" in line
    assert run.files == {}, run.files  # the temporary folder is gone
    assert not out.exists() or not any(out.iterdir())


def test_detect_with_room_writes_all_outputs(tmp_path, edf):
    """Control: the same run with room to spare writes the three files and no temporary."""
    require_tmpfs()
    mount = tmp_path / "disk"
    run = run_on_small_fs(mount, 1 << 20, _eegssm("detect", str(edf), "--out", str(mount), "-q"))
    assert run.rc == 0, run.stderr[-3000:]
    assert sorted(run.files) == ["night.csv_bi", "night.json", "night_events.tsv"]


_TRAIN = r"""
import sys, torch
from eegssm.train.trainer import TrainConfig, Trainer
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 8))
batches = [(torch.randn(4, 64),) for _ in range(3)]
cfg = TrainConfig(max_steps=4, warmup_steps=1, checkpoint_dir=sys.argv[1], checkpoint_every=2,
                  progress=False)
try:
    Trainer(model, lambda m, b: m(b[0]).pow(2).mean(), cfg).fit(batches)
except OSError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(3)
"""


def test_train_checkpoint_on_a_full_disk_is_an_os_error(tmp_path):
    """Case 8: was a safetensors error traceback (``SafetensorError``, not an ``OSError``, so
    the command line could not report it); now a ``WriteError`` naming the file, and no
    partial checkpoint folder."""
    require_tmpfs()
    mount = tmp_path / "disk"
    run = run_on_small_fs(
        mount, 256 << 10, [PYTHON, "-c", _TRAIN, str(mount / "ckpt")], free=4 * PAGE
    )
    assert run.rc == 3, (run.rc, run.stderr[-3000:])
    (line,) = run.error_lines
    assert "cannot write (No space left on device)" in line and "ckpt" in line
    assert not [f for f in run.files if ".tmp" in f], run.files


@pytest.mark.timeout(1500)  # a hang guard: corpus, cache and training take minutes when busy
def test_eegssm_train_on_a_full_disk_is_one_error_line(tmp_path):
    """Case 8 through the command line: ``eegssm train`` whose output folder is on a full disk
    (the corpus and the window cache elsewhere) stops with one ``error:`` line naming the file,
    exit 1, no traceback and no temporary file."""
    import yaml
    from test_reproducible import _recipe

    require_tmpfs()
    mount = tmp_path / "disk"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"recipe": "detector", **_recipe(tmp_path, "unused")}))
    run = run_on_small_fs(
        mount,
        256 << 10,
        _eegssm("train", str(recipe), "--output-dir", str(mount / "run"), "--quiet"),
        free=4 * PAGE,
        timeout=1200,
    )
    assert run.rc == 1, (run.rc, run.stderr[-3000:])
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    (line,) = run.error_lines
    assert "No space left on device" in line and str(mount / "run") in line, line
    assert not [f for f in run.files if ".tmp" in f], run.files


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
