"""`eegssm classify` and `eegssm.classify`: a fine-tuned checkpoint on new recordings.

A tiny Fine classifier is fine-tuned on synthetic EDFs (two subjects, one held out for the
validation split and the temperature), then recordings are classified from folders, files,
``Recording`` objects and MNE ``Raw``; the three outputs are checked against the model itself.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from eegssm.cli import main

WINDOW_S = 4.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from eegssm.data.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("classify_corpus")
    for subject in range(2):
        for k in (1, 2):
            write_synthetic(
                root / f"Subj{subject:02d}_{k}",
                duration_s=22.0,
                sfreq=128.0,
                n_seizures=0,
                seed=10 * subject + k,
                alpha_uv=15.0 if k == 1 else 2.0,  # rest has more alpha
            )
    return root


def _cfg(path: Path, data_dir: Path, out: Path, **extra) -> Path:
    cfg = {
        "data": {
            "data_dir": str(data_dir),
            "window_s": WINDOW_S,
            "class_names": ["rest", "task"],
            "val_subjects": ["Subj01"],
        },
        "train": {
            "max_steps": 3,
            "batch_size": 4,
            "schedule": "constant",
            "warmup_steps": 0,
            "eval_every": 2,
            "checkpoint_every": 1,
        },
        "output_dir": str(out),
        **extra,
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def finetuned(corpus, tmp_path_factory):
    """A Fine classifier trained from scratch (3 steps) and a 1-step pretraining checkpoint."""
    tmp = tmp_path_factory.mktemp("classify_runs")
    ft = _cfg(tmp / "ft.yaml", corpus, tmp / "F", head="fine")
    assert main(["finetune", str(ft), "-q"]) == 0
    pt = _cfg(tmp / "pt.yaml", corpus, tmp / "P")
    raw = yaml.safe_load(pt.read_text())
    del raw["data"]["class_names"]
    raw["train"]["max_steps"] = 1
    pt.write_text(yaml.safe_dump(raw))
    assert main(["pretrain", str(pt), "--no-progress"]) == 0
    return tmp / "F", tmp / "P"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_checkpoint_carries_what_classify_needs(finetuned):
    meta = json.loads((finetuned[0] / "best" / "config.json").read_text())
    assert meta["classes"] == ["rest", "task"]
    assert meta["window_s"] == WINDOW_S and meta["sfreq"] == 128.0
    assert len(meta["channels"]) == 19 and meta["channels"][0] == "Fp1"
    assert meta["preprocess"]["montage"] == "ref19" and meta["preprocess"]["normalize"] == "p95"
    cal = meta["calibration"]
    assert cal["method"] == "temperature" and cal["temperature"] > 0
    assert cal["nll_after"] <= cal["nll_before"] + 1e-9


def test_classify_command_writes_the_three_files(corpus, finetuned, tmp_path, capsys):
    from eegssm.recipes.eegm2 import load_classifier, predict_logits

    out = tmp_path / "C"
    (corpus / "notes.txt").write_text("not EEG")  # skipped
    assert main(["classify", str(finetuned[0] / "best"), str(corpus), "--out", str(out), "-q"]) == 0
    assert "classified 4 recording(s)" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == [
        "classify.json",
        "recordings.csv",
        "windows.csv",
    ]
    windows = _read_csv(out / "windows.csv")
    assert list(windows[0]) == ["recording", "start_s", "stop_s", "p_rest", "p_task"]
    names = sorted({w["recording"] for w in windows})
    assert names == [f"Subj0{s}_{k}.edf" for s in (0, 1) for k in (1, 2)]
    first = [w for w in windows if w["recording"] == "Subj00_1.edf"]
    assert len(first) == 5  # 22 s → five 4-s windows, the trailing 2 s left out
    assert [float(w["start_s"]) for w in first] == [0.0, 4.0, 8.0, 12.0, 16.0]
    assert all(float(w["stop_s"]) - float(w["start_s"]) == WINDOW_S for w in first)
    p = np.array([[float(w["p_rest"]), float(w["p_task"])] for w in windows])
    np.testing.assert_allclose(p.sum(1), 1.0, atol=2e-6)

    # the probabilities are the model's calibrated softmax on the same windows
    from eegssm.classify import Classifier
    from eegssm.io import read_recording

    model, meta = load_classifier(finetuned[0] / "best")
    x, _, _ = Classifier(finetuned[0] / "best").windows(read_recording(corpus / "Subj00_1.edf"))
    # ... which are the windows fine-tuning read from its cache (same preprocessing)
    from eegssm.data import WindowDataset

    cached = WindowDataset(finetuned[0] / "cache", WINDOW_S, target="recording", pad_end=False)
    at = [r.entry["relpath"] for r in cached.recordings].index("Subj00_1.edf")
    trained = np.stack([cached[i][0].numpy() for i in np.flatnonzero(cached.rec == at)])
    np.testing.assert_allclose(x, trained, atol=1e-5)
    logits = predict_logits(model, x)
    t = meta["calibration"]["temperature"]
    want = np.exp(logits / t) / np.exp(logits / t).sum(1, keepdims=True)
    got = np.array([[float(w["p_rest"]), float(w["p_task"])] for w in first])
    np.testing.assert_allclose(got, want, atol=2e-6)

    recs = _read_csv(out / "recordings.csv")
    assert list(recs[0]) == ["recording", "n_windows", "p_rest", "p_task", "predicted"]
    assert len(recs) == 4  # one row per recording, no total row
    for r in recs:
        mine = p[[w["recording"] == r["recording"] for w in windows]]
        assert int(r["n_windows"]) == len(mine) == 5
        mean = mine.mean(0)
        np.testing.assert_allclose([float(r["p_rest"]), float(r["p_task"])], mean, atol=2e-6)
        assert r["predicted"] == ["rest", "task"][int(np.argmax(mean))]

    info = json.loads((out / "classify.json").read_text())
    weights = (finetuned[0] / "best" / "model.safetensors").read_bytes()
    assert info["checkpoint_sha256"] == hashlib.sha256(weights).hexdigest()
    assert info["classes"] == ["rest", "task"]
    assert info["window"]["length_s"] == WINDOW_S
    assert info["channels"] == meta["channels"]
    assert "mean" in info["aggregation"] and info["eegssm_version"]
    assert info["calibration"]["temperature"] == t
    assert info["failures"] == []
    assert not list(out.glob("*.tmp"))


def test_one_bad_file_does_not_stop_the_others(corpus, finetuned, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "good.edf").write_bytes((corpus / "Subj00_2.edf").read_bytes())
    (data / "broken.edf").write_bytes(b"0       this is not an EDF header")
    out = tmp_path / "C"
    code = main(["classify", str(finetuned[0] / "best"), str(data), "--out", str(out), "-q"])
    assert code == 1
    err = capsys.readouterr().err
    assert "broken.edf" in err and "good.edf" not in err
    assert [r["recording"] for r in _read_csv(out / "recordings.csv")] == ["good.edf"]
    failures = json.loads((out / "classify.json").read_text())["failures"]
    assert [f["recording"] for f in failures] == ["broken.edf"]


def test_pretraining_checkpoint_is_a_clear_error(corpus, finetuned, tmp_path, capsys):
    out = tmp_path / "C"
    assert main(["classify", str(finetuned[1]), str(corpus), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no classification head" in err and "eegssm finetune" in err
    assert not out.exists()


def test_missing_path_and_empty_folder(finetuned, tmp_path, capsys):
    ckpt = str(finetuned[0] / "best")
    assert main(["classify", ckpt, str(tmp_path / "nowhere"), "--out", str(tmp_path / "C")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["classify", ckpt, str(tmp_path / "empty"), "--out", str(tmp_path / "C")]) == 2
    assert "no .edf or .bdf" in capsys.readouterr().err


def test_python_api_takes_recordings_and_mne_raw(corpus, finetuned):
    import mne

    from eegssm.classify import classify
    from eegssm.io import read_recording

    path = corpus / "Subj01_1.edf"
    rec = read_recording(path)
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    result = classify(finetuned[0], [path, rec, raw])
    assert len(result.recordings) == 3 and not result.failures
    assert len({r.name for r in result.recordings}) == 3  # unique names
    ref = result.recordings[0].proba
    for r in result.recordings[1:]:
        np.testing.assert_allclose(r.proba, ref, atol=1e-5)


def test_short_recording_is_one_window(finetuned, tmp_path):
    from eegssm.classify import classify
    from eegssm.data.synthetic import make_recording

    rec = make_recording(2.5, sfreq=128.0, n_seizures=0, seed=3)
    result = classify(finetuned[0], rec, out=tmp_path / "C")
    (r,) = result.recordings
    assert r.short and len(r.starts) == 1 and r.stops[0] == pytest.approx(2.5)
    assert result.info["short_recordings"] == [r.name]
    assert _read_csv(tmp_path / "C" / "recordings.csv")[0]["n_windows"] == "1"


@pytest.mark.parametrize(
    "change, says",
    [
        ({"n_classes": 10**9}, "n_classes must be an integer"),
        ({"head": "mystery"}, "head must be one of"),
        ({"eegm2": {"widths": [4096, 4096, 10**7]}}, "eegm2.widths[2]"),
        ({"eegm2": {"bogus": 1}}, "eegm2: unknown fields"),
        ({"n_classes": 3}, "config.json"),  # valid values that do not fit the weights
    ],
)
def test_load_classifier_refuses_a_hostile_config(finetuned, tmp_path, change, says):
    import shutil

    from eegssm.models.eegm2_checkpoint import load_classifier
    from eegssm.train.checkpoint import CheckpointError

    ckpt = tmp_path / "ckpt"
    shutil.copytree(finetuned[0] / "best", ckpt)
    meta = json.loads((ckpt / "config.json").read_text())
    for key, value in change.items():
        meta[key] = {**meta[key], **value} if isinstance(value, dict) and key in meta else value
    (ckpt / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError) as err:
        load_classifier(ckpt)
    assert says in str(err.value) and str(ckpt / "config.json") in str(err.value)
