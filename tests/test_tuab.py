"""TUAB: layout discovery (v2 and v3 nesting, labels and split from the path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eegssm.data.discovery import TUAB_CLASSES, find_tuab

V3 = "edf/{split}/{cls}/01_tcp_ar/{subject}_s001_t000.edf"
V2 = "edf/{split}/{cls}/01_tcp_ar/007/{subject}/s003_2012_04_06/{subject}_s003_t001.edf"


def _touch(root: Path, rel: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.mark.parametrize("layout", [V3, V2], ids=["v3", "v2"])
def test_find_tuab_labels_splits_and_subjects(tmp_path, layout):
    expected = {}
    for split in ("train", "eval"):
        for label, cls in enumerate(TUAB_CLASSES):
            for k in range(2):
                subject = f"{split[0]}{cls[0]}{k:06d}"
                path = _touch(tmp_path, layout.format(split=split, cls=cls, subject=subject))
                expected[path] = (split, label, subject)
    _touch(tmp_path, "edf/train/normal/01_tcp_ar/notes.txt")  # not a recording
    _touch(tmp_path, "edf/other/x_s001_t000.edf")  # outside the layout: ignored
    found = find_tuab(tmp_path)
    assert {r.path: (r.split, r.label, r.subject) for r in found} == expected
    assert all(r.montage == "01_tcp_ar" for r in found)
    assert [r.path for r in found] == sorted(expected, key=lambda p: p.relative_to(tmp_path))
    # edf/ itself is accepted as the root too
    assert len(find_tuab(tmp_path / "edf")) == len(expected)


def test_find_tuab_upper_case_folders_and_empty_corpus(tmp_path):
    _touch(tmp_path, "edf/Train/Abnormal/01_tcp_ar/aaaaaaab_s001_t000.edf")
    (rec,) = find_tuab(tmp_path)
    assert (rec.split, rec.label, rec.subject) == ("train", 1, "aaaaaaab")
    with pytest.raises(FileNotFoundError, match=r"\{train,eval\}/\{normal,abnormal\}"):
        find_tuab(tmp_path / "edf" / "Train" / "Abnormal")


# -- the TUAB recipe end to end on a tiny synthetic corpus in the TUAB layout --------------------


def test_carve_val_subjects_is_disjoint_seeded_and_never_everything():
    from eegssm.recipes.eegm2 import carve_val_subjects

    subjects = [f"s{i:02d}" for i in range(20) for _ in range(3)]  # 3 windows each
    val = carve_val_subjects(subjects, 0.1)
    assert len(val) == 2 and set(val) < set(subjects)
    assert val == carve_val_subjects(list(reversed(subjects)), 0.1)  # order-free
    assert carve_val_subjects(subjects, 0.1, seed=1) != val or len(set(subjects)) < 3
    assert carve_val_subjects(["a", "b"], 0.9) in (["a"], ["b"])  # never every subject
    assert carve_val_subjects(subjects, 0.0) == [] and carve_val_subjects(["a"], 0.5) == []


@pytest.fixture(scope="module")
def tuab_corpus(tmp_path_factory):
    """edf/{train,eval}/{normal,abnormal}/: v3 nesting for train, v2 for eval; TUH channel names
    (``EEG FP1-REF``) at 256 Hz; abnormal recordings slower (more delta, less alpha)."""
    from eegssm.data.synthetic import write_synthetic

    root = tmp_path_factory.mktemp("tuab")
    n = {"train": 3, "eval": 1}
    for split, count in n.items():
        layout = V3 if split == "train" else V2
        for label, cls in enumerate(TUAB_CLASSES):
            for k in range(count):
                subject = f"{split[0]}{cls[0]}{k:06d}"
                path = root / layout.format(split=split, cls=cls, subject=subject)
                write_synthetic(
                    path.with_suffix(""),
                    duration_s=16.0,
                    sfreq=256.0,
                    n_seizures=0,
                    seed=100 * label + 10 * k + len(split),
                    tusz_labels=True,
                    alpha_uv=2.0 if label else 15.0,
                )
    return root


def _tuab_cfg(path: Path, shipped: str, root: Path, out: Path, **extra) -> Path:
    """A shipped TUAB config, shrunk: cpu preset, 4-s windows, two steps, on CPU."""
    import yaml

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "configs" / shipped).read_text())
    raw["data"].update(data_dir=str(root), window_s=4.0, val_fraction=0.34)
    raw["model"]["preset"] = "cpu"
    raw["train"].update(
        max_steps=2, batch_size=4, eval_every=2, checkpoint_every=1, warmup_steps=0, amp=False
    )
    raw.update(output_dir=str(out), device="cpu", **extra)
    raw["train"].pop("patience", None)
    path.write_text(yaml.safe_dump(raw))
    return path


def test_tuab_recipe_pretrain_finetune_classify(tuab_corpus, tmp_path, capsys):
    import csv
    import json

    from eegssm.cli import main
    from eegssm.config import FinetuneConfig, load_config
    from eegssm.recipes import eegm2 as R

    # only TUAB's train split is read; labels and subjects come from the path
    cfg = load_config(
        _tuab_cfg(tmp_path / "ft.yaml", "eegm2_tuab_finetune.yaml", tuab_corpus, tmp_path / "F"),
        FinetuneConfig,
    )
    windows = R.prepare_windows(cfg.data, tmp_path / "cache")
    recs = windows.recordings
    assert len(recs) == 6 and all(Path(r.entry["relpath"]).parts[0] in TUAB_CLASSES for r in recs)
    labels = [int(windows.targets[windows.rec == i][0]) for i in range(len(recs))]
    assert sorted(labels) == [0, 0, 0, 1, 1, 1]
    assert all(r.subject in r.entry["relpath"] for r in recs)
    subjects = [r.subject for r in recs]

    pt = _tuab_cfg(tmp_path / "pt.yaml", "eegm2_tuab_pretrain.yaml", tuab_corpus, tmp_path / "P")
    assert main(["pretrain", str(pt), "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # 6 train recordings x 4 windows; a third of the 6 subjects (2) validate, subject-disjoint
    assert summary["recordings"] == 6
    assert (summary["train_windows"], summary["val_windows"]) == (16, 8)
    assert len(summary["val_subjects"]) == 2 and {s[0] for s in summary["val_subjects"]} == {"t"}
    assert (tmp_path / "P" / "best" / "model.safetensors").is_file()

    ft = tmp_path / "ft.yaml"
    assert main(["finetune", str(ft), "--pretrained", str(tmp_path / "P" / "best"), "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 2 and summary["val_windows"] == 8
    assert summary["val_subjects"] == R.carve_val_subjects(subjects, 0.34)
    meta = json.loads((tmp_path / "F" / "best" / "config.json").read_text())
    assert meta["classes"] == ["normal", "abnormal"] and meta["head"] == "fine"
    assert meta["window_s"] == 4.0 and meta["calibration"]["method"] == "temperature"

    # TUAB's own eval split, never seen in training, classified by the command
    eval_dir = tuab_corpus / "edf" / "eval"
    assert main(["classify", str(tmp_path / "F" / "best"), str(eval_dir), "--out",
                 str(tmp_path / "C"), "-q"]) == 0  # fmt: skip
    with open(tmp_path / "C" / "recordings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {r["predicted"] for r in rows} <= {"normal", "abnormal"}
    assert list(rows[0]) == ["recording", "n_windows", "p_normal", "p_abnormal", "predicted"]
    assert all(int(r["n_windows"]) == 4 for r in rows)
