"""`eegssm evaluate`: every scorer on a split, consistent with `eegssm score` on its own files."""

from __future__ import annotations

import json

import pytest

from eegssm.cli import main
from eegssm.data.synthetic import write_synthetic


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("split")
    for i in range(2):
        write_synthetic(root / f"rec{i}", duration_s=150.0, n_seizures=1, seed=10 + i,
                        seizure_duration_s=(20, 40), min_gap_s=10)  # fmt: skip
    return root


def test_evaluate_folder_with_bundled_checkpoint(folder, tmp_path, capsys):
    from eegssm.checkpoints import checkpoint_path

    out = tmp_path / "eval"
    code = main(["evaluate", str(checkpoint_path()), str(folder), "--split", "holdout",
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    report = capsys.readouterr().out
    for scorer in ("NEDC OVERLAP", "NEDC TAES", "NEDC EPOCH", "NEDC DPALIGN", "SzCORE"):
        assert scorer in report
    result = json.loads((out / "scores.json").read_text())
    assert result["recordings"] == 2 and result["seizures"] == 2
    assert 0.0 <= result["sample_metrics"]["auroc"] <= 1.0
    assert all(not o["in_sample"] and o["chosen_on"] == "dev" for o in result["operating_points"])
    assert (out / "curve.png").stat().st_size > 1000
    assert (out / "calibration.png").stat().st_size > 1000
    for png in ("curve.png", "calibration.png"):  # written through a temporary file as PNG
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.rglob("*.tmp")]

    # the written hypotheses re-score to the same OVERLAP totals with `eegssm score`
    rescored = tmp_path / "rescored.json"
    assert main(["score", str(out / "ref.list"), str(out / "hyp.list"), "--method", "overlap",
                 "--json", str(rescored)]) == 0  # fmt: skip
    again = json.loads(rescored.read_text())["total"]["OVERLAP"]
    assert again == result["scores"]["total"]["OVERLAP"]


def test_evaluate_bad_data(tmp_path, capsys):
    from eegssm.checkpoints import checkpoint_path

    code = main(["evaluate", str(checkpoint_path()), str(tmp_path / "missing")])
    assert code == 2 and "not a cache" in capsys.readouterr().err
