"""The README's EEGM2 CPU recipe, command for command (pretrain → finetune → classify).

The three commands are read from README.md and run as written with the shipped configs, on a
small synthetic eegmat-like corpus (subjects 19–23, rest ``_1`` and task ``_2``; the configs hold
out subjects 20–23) with ``--data-dir`` and ``--max-steps 2`` added, so the README cannot drift
from what works.
"""

from __future__ import annotations

import csv
import json
import shlex
import shutil
from pathlib import Path

import pytest

from eegssm.cli import main

REPO = Path(__file__).resolve().parents[1]


def readme_recipe() -> list[list[str]]:
    """The ``eegssm pretrain/finetune/classify`` lines of the README's CPU recipe block."""
    text = (REPO / "README.md").read_text()
    block = text.split("## EEGM2 on CPU", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("eegssm ")]


@pytest.fixture(scope="module")
def eegmat_like(tmp_path_factory):
    from eegssm.data.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("eegmat_like")
    for subject in range(19, 24):
        for k in (1, 2):
            write_synthetic(
                root / f"Subject{subject:02d}_{k}",
                duration_s=21.0,
                sfreq=500.0 if subject % 2 else 128.0,  # eegmat's rate, and one already at 128
                n_seizures=0,
                seed=10 * subject + k,
                alpha_uv=15.0 if k == 1 else 2.0,
            )
    return root


def test_readme_cpu_recipe_parses():
    """Fast check (default run): the README's commands name shipped configs and parse."""
    from eegssm.cli import build_parser

    commands = readme_recipe()
    assert [c[1] for c in commands] == ["pretrain", "finetune", "classify"]
    for argv in commands:
        args = build_parser().parse_args(argv[1:])
        if argv[1] != "classify":
            assert (REPO / args.config).is_file() and args.out and args.quiet
        else:
            assert str(args.out) == "C" and args.paths == ["FOLDER"]


@pytest.mark.slow
def test_readme_cpu_recipe_runs_as_written(eegmat_like, tmp_path, monkeypatch, capsys):
    commands = readme_recipe()
    assert [c[1] for c in commands] == ["pretrain", "finetune", "classify"]
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        argv = [str(eegmat_like) if a == "FOLDER" else a for a in argv[1:]]
        if argv[0] in ("pretrain", "finetune"):
            argv += ["--data-dir", str(eegmat_like), "--max-steps", "2"]
        assert main(argv) == 0, argv
    capsys.readouterr()
    assert (tmp_path / "P" / "best" / "model.safetensors").is_file()
    meta = json.loads((tmp_path / "F" / "best" / "config.json").read_text())
    assert meta["head"] == "fine" and meta["calibration"]["method"] == "temperature"
    with open(tmp_path / "C" / "recordings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 10 and all(r["predicted"] for r in rows)  # a decision for every one
    assert all(int(r["n_windows"]) == 2 for r in rows)  # 21 s → two 10-s windows
    assert (tmp_path / "C" / "windows.csv").is_file() and (
        tmp_path / "C" / "classify.json"
    ).is_file()
