"""What ``eegssm detect`` writes: SzCORE events with ``trial_type`` and a real ``dateTime``, the
JSON's provenance, and the ``--bids-root`` BIDS dataset (read back with ``mne_bids``)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from eegssm.cli import main
from eegssm.data.synthetic import make_recording
from eegssm.io.annotations import write_edf
from eegssm.io.bids_dataset import Entities, assign_runs, entities_for, parse_entities


def _sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def edfs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("in")
    one = make_recording(70.0, n_seizures=1, seed=11, seizure_duration_s=(20, 25), min_gap_s=5)
    one.meta["start_time"] = "2019-07-08T09:10:11"
    write_edf(folder / "sub-07_ses-2_task-rest_run-3_eeg.edf", one)
    two = make_recording(40.0, n_seizures=0, seed=12)
    two.meta["start_time"] = "2020-01-02T03:04:05"
    write_edf(folder / "patient A.edf", two)
    return folder


def _tsv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_events_tsv_and_json_provenance(edfs, tmp_path):
    from eegssm.checkpoints import checkpoint_path

    src = edfs / "patient A.edf"
    out = tmp_path / "out"
    assert main(["detect", str(src), "--out", str(out), "-q", "--fa-per-24h", "10"]) == 0
    rows = _tsv(out / "patient A_events.tsv")
    assert list(rows[0]) == [
        "onset",
        "duration",
        "eventType",
        "confidence",
        "channels",
        "dateTime",
        "recordingDuration",
        "trial_type",
    ]
    assert rows[0]["dateTime"] == "2020-01-02 03:04:05"  # the EDF's start, not n/a
    assert all(r["trial_type"] == r["eventType"] for r in rows)
    doc = json.loads((out / "patient A.json").read_text())
    from eegssm import __version__

    assert doc["eegssm_version"] == __version__
    assert doc["checkpoint"]["weights_sha256"] == _sha(checkpoint_path() / "model.safetensors")
    assert doc["input_sha256"] == _sha(src)
    bundled = json.loads((checkpoint_path() / "config.json").read_text())
    assert doc["montage"]["montage"] == bundled["preprocess"]["config"]["montage"]
    assert doc["montage"]["input"].startswith("referential")
    assert doc["start_time"] == "2020-01-02T03:04:05"
    assert doc["operating_point"]["kind"] == "fa_per_24h"
    assert doc["operating_point"]["target_fa_per_24h"] == 10.0
    assert doc["threshold"] == doc["operating_point"]["threshold"] > 0
    assert doc["command"].startswith("eegssm ")


def test_entities_from_names_and_flags():
    assert parse_entities("sub-01_ses-2_task-rest_run-3_eeg") == {
        "sub": "01",
        "ses": "2",
        "task": "rest",
        "run": "3",
    }
    assert parse_entities("chb01_03") == {}
    e = entities_for("x/sub-01_task-rest_eeg.edf")
    assert e.basename() == "sub-01_task-rest"
    e = entities_for("x/chb01_03.edf")
    assert e.basename() == "sub-chb0103_task-szMonitoring"
    e = entities_for("x/chb01_03.edf", subject="chb01", session="a", task="eeg")
    assert e.basename() == "sub-chb01_ses-a_task-eeg"
    runs = assign_runs([Entities("p"), Entities("p"), Entities("q")])
    assert [r.basename() for r in runs] == [
        "sub-p_task-szMonitoring_run-1",
        "sub-p_task-szMonitoring_run-2",
        "sub-q_task-szMonitoring",
    ]
    with pytest.raises(ValueError, match="several recordings would be sub-p_task-x_run-1"):
        assign_runs([Entities("p", "x", run=1), Entities("p", "x", run=1)])
    with pytest.raises(ValueError, match="letters or digits"):
        entities_for("x/__.edf")


def test_bids_root_dataset_reads_with_mne_bids(edfs, tmp_path):
    mne_bids = pytest.importorskip("mne_bids")
    root = tmp_path / "bids"
    argv = ["detect", str(edfs), "--out", str(tmp_path / "out"), "-q", "--threshold", "0.3"]
    assert main([*argv, "--bids-root", str(root)]) == 0
    desc = json.loads((root / "dataset_description.json").read_text())
    assert desc["BIDSVersion"] and desc["GeneratedBy"][0]["Name"] == "eegssm"
    assert [r["participant_id"] for r in _tsv(root / "participants.tsv")] == [
        "sub-07",
        "sub-patientA",
    ]
    eeg = root / "sub-07" / "ses-2" / "eeg"
    base = "sub-07_ses-2_task-rest_run-3"
    link = eeg / f"{base}_eeg.edf"
    assert link.is_symlink() and link.resolve() == (edfs / f"{base}_eeg.edf").resolve()
    sidecar = json.loads((eeg / f"{base}_eeg.json").read_text())
    assert sidecar["TaskName"] == "rest" and sidecar["SamplingFrequency"] == 256.0
    assert sidecar["EEGChannelCount"] == 19
    bp = mne_bids.BIDSPath(subject="07", session="2", task="rest", run=3, root=root, datatype="eeg")
    raw = mne_bids.read_raw_bids(bp, verbose="error")
    names = [r["name"] for r in _tsv(eeg / f"{base}_channels.tsv")]
    assert names == raw.ch_names
    rows = _tsv(eeg / f"{base}_events.tsv")
    assert list(raw.annotations.description) == [r["trial_type"] for r in rows]
    assert raw.annotations.onset[0] == pytest.approx(float(rows[0]["onset"]))
    assert rows[0]["dateTime"] == "2019-07-08 09:10:11"
    other = mne_bids.BIDSPath(subject="patientA", task="szMonitoring", root=root, datatype="eeg")
    assert mne_bids.read_raw_bids(other, verbose="error").n_times == 40 * 256


def test_bids_copy_and_flags(edfs, tmp_path):
    import shutil

    root = tmp_path / "bids"
    (tmp_path / "in").mkdir()
    for name in ("a.edf", "b.edf"):
        shutil.copyfile(edfs / "patient A.edf", tmp_path / "in" / name)
    argv = ["detect", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "-q"]
    argv += ["--bids-root", str(root), "--bids-copy", "--subject", "s1", "--task", "monitor"]
    assert main(argv) == 0  # two files of one subject and task: two runs
    eeg = root / "sub-s1" / "eeg"
    for run, name in ((1, "a.edf"), (2, "b.edf")):
        path = eeg / f"sub-s1_task-monitor_run-{run}_eeg.edf"
        assert path.is_file() and not path.is_symlink()
        assert _sha(path) == _sha(tmp_path / "in" / name)


def test_bids_real_eegmmidb_with_edf_annotations(shared_data, tmp_path):
    mne_bids = pytest.importorskip("mne_bids")
    src = shared_data / "eegmmidb_S001" / "S001R03.edf"
    root = tmp_path / "bids"
    argv = ["detect", str(src), "--out", str(tmp_path / "out"), "-q", "--bids-root", str(root)]
    assert main([*argv, "--subject", "S001", "--task", "motor"]) == 0
    bp = mne_bids.BIDSPath(subject="S001", task="motor", root=root, datatype="eeg")
    raw = mne_bids.read_raw_bids(bp, verbose="error")
    assert len(raw.ch_names) == 64 and raw.info["sfreq"] == 160.0
    rows = _tsv(tmp_path / "out" / "S001R03_events.tsv")
    assert rows[0]["dateTime"] == "2009-08-12 16:15:00"
