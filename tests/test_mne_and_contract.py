"""MNE in and out (``from_mne``, ``detect(raw)``, ``to_annotations``, ``to_dataframe``), channel
renaming, the checkpoint input contract, and hub-style checkpoints."""

from __future__ import annotations

import datetime as dt
import json
import sys
import types

import mne
import numpy as np
import pytest
import torch

from eegssm.contract import InputMismatchError, InputSpec
from eegssm.data.synthetic import make_recording
from eegssm.detection import Detector, detect
from eegssm.io import EEGReadError, Recording, as_recording, from_mne
from eegssm.io.channels import parse_channel_map, rename_channels
from eegssm.models.detector import SeizureDetector
from eegssm.preprocessing.montages import REFERENTIAL_19

MEAS = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.timezone.utc)


def _raw(names=REFERENTIAL_19, seconds=40.0, sfreq=256.0, seed=0, meas=MEAS):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(names), int(seconds * sfreq))) * 30e-6  # volts
    info = mne.create_info(list(names), sfreq, "eeg")
    raw = mne.io.RawArray(data, info, verbose=False)
    if meas is not None:
        raw.set_meas_date(meas)
    return raw


@pytest.fixture(scope="module")
def bare_checkpoint(tmp_path_factory):
    """What ``SeizureDetector.from_preset("fast", n_chans=C).save_pretrained(DIR)`` writes."""

    def make(n_chans: int):
        folder = tmp_path_factory.mktemp(f"bare{n_chans}")
        torch.manual_seed(0)
        SeizureDetector.from_preset("fast", n_chans=n_chans).save_pretrained(folder)
        return folder

    return make


# -- MNE in ------------------------------------------------------------------------------------
def test_from_mne_units_names_date_annotations():
    raw = _raw()
    raw.set_annotations(mne.Annotations([2.0, 10.0], [3.0, 0.0], ["T0", "Seizure"], MEAS))
    rec = from_mne(raw)
    assert rec.ch_names == list(REFERENTIAL_19) and rec.sfreq == 256.0
    assert rec.data.dtype == np.float32
    np.testing.assert_allclose(rec.data, raw.get_data() * 1e6, rtol=1e-6)  # volts -> µV
    assert rec.meta["start_time"] == "2021-03-04T05:06:07"
    assert [(e.start, e.stop, e.label) for e in rec.events] == [
        (2.0, 5.0, "T0"),  # labels keep their case
        (10.0, 10.0, "Seizure"),
    ]


def test_from_mne_cropped_raw_keeps_times_and_start():
    raw = _raw(seconds=60.0)
    raw.set_annotations(mne.Annotations([30.0], [4.0], ["sz"], MEAS))
    raw.crop(tmin=20.0)  # first sample is now 20 s after meas_date
    rec = from_mne(raw)
    assert rec.meta["start_time"] == "2021-03-04T05:06:27"
    assert rec.events[0].start == pytest.approx(10.0) and rec.events[0].duration == 4.0


def test_from_mne_non_eeg_types_and_units():
    raw = _raw(names=["Fp1", "Fp2", "ECG"])
    raw.set_channel_types({"ECG": "ecg"}, verbose=False)
    assert from_mne(raw).ch_names == ["Fp1", "Fp2"]
    misc = _raw(names=["Fp1", "X1"])
    with pytest.warns(RuntimeWarning, match="unit"):
        misc.set_channel_types({"X1": "misc"}, verbose=False)
    with pytest.warns(UserWarning, match="not in volts"):
        rec = from_mne(misc, drop_non_eeg=False)
    assert rec.ch_names == ["Fp1", "X1"]


def test_channel_map_parse_rename_and_errors():
    assert parse_channel_map(["EEG 1=Fp1", "EEG 2=Fp2,EEG 3=F3"]) == {
        "EEG 1": "Fp1",
        "EEG 2": "Fp2",
        "EEG 3": "F3",
    }
    for bad in ["EEG 1", "=Fp1", "A=B,A=C"]:
        with pytest.raises(ValueError, match="rename"):
            parse_channel_map([bad])
    assert rename_channels(["a", "B", "c"], {"b": "Fz"}) == ["a", "Fz", "c"]  # case-insensitive
    with pytest.raises(EEGReadError, match=r"f\.edf: channel\(s\) not found: X"):
        rename_channels(["a"], {"X": "Fz"}, "f.edf")
    with pytest.raises(EEGReadError, match="duplicate channel name"):
        rename_channels(["a", "b"], {"a": "b"})
    raw = _raw(names=[f"EEG {i:03d}" for i in range(19)])
    mapping = {f"EEG {i:03d}": name for i, name in enumerate(REFERENTIAL_19)}
    rec = as_recording(raw, mapping)
    assert rec.ch_names == list(REFERENTIAL_19) and rec.meta["renamed"] == mapping
    with pytest.raises(TypeError, match="mne.io.Raw"):
        as_recording(np.zeros((2, 10)))


# -- detect on MNE, results out ---------------------------------------------------------------
def test_detect_raw_equals_recording_and_annotations_align():
    rec = make_recording(90.0, n_seizures=1, seed=3, seizure_duration_s=(20, 30), min_gap_s=5)
    info = mne.create_info(rec.ch_names, rec.sfreq, "eeg")
    raw = mne.io.RawArray(rec.data.astype(np.float64) * 1e-6, info, verbose=False)
    raw.set_meas_date(MEAS)
    detector = Detector.from_checkpoint()
    via_raw = detector.run(raw, threshold=0.3)
    via_rec = detector.run(rec, threshold=0.3)
    np.testing.assert_allclose(via_raw.probs, via_rec.probs, atol=1e-5)
    assert via_raw.events and via_raw.start_time == MEAS
    ann = via_raw.to_annotations()
    assert isinstance(ann, mne.Annotations) and ann.orig_time == MEAS
    assert list(ann.description) == [e.label for e in via_raw.events]
    assert [x["confidence"] for x in ann.extras] == [e.confidence for e in via_raw.events]
    raw.set_annotations(ann)  # onsets land on the samples of the events
    np.testing.assert_allclose(raw.annotations.onset, [e.start for e in via_raw.events])
    # a recording without a start date: orig_time None, onsets from the first sample
    assert via_rec.to_annotations().orig_time is None


def test_detect_accepts_mne_raw_edf(shared_data):
    raw = mne.io.read_raw_edf(shared_data / "eegmat" / "Subject00_2.edf", verbose=False)
    result = detect(raw, fa_per_24h=10)
    assert result.probs.shape == (result.recording.n_times,)
    spec = Detector.from_checkpoint().input  # whichever montage the bundled checkpoint takes
    assert result.recording.sfreq == spec.sfreq and len(result.recording.ch_names) == spec.n_chans
    assert result.start_time is not None and result.start_time.year > 1900
    assert isinstance(result.events, list)


def test_to_dataframe():
    pd = pytest.importorskip("pandas")
    rec = make_recording(60.0, n_seizures=1, seed=4, seizure_duration_s=(20, 30), min_gap_s=5)
    result = Detector.from_checkpoint().run(rec, threshold=0.2)
    df = result.to_dataframe()
    assert isinstance(df, pd.DataFrame)
    assert list(df.columns) == [
        "onset",
        "duration",
        "offset",
        "trial_type",
        "confidence",
        "channel",
    ]
    assert len(df) == len(result.events)
    if len(df):
        assert df.loc[0, "onset"] == result.events[0].start


def test_to_dataframe_without_pandas(monkeypatch):
    rec = make_recording(30.0, sfreq=256.0, n_seizures=0, seed=5)
    result = Detector.from_checkpoint().run(rec)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        result.to_dataframe()


# -- the input contract ------------------------------------------------------------------------
def test_contract_recorded_and_derived(bare_checkpoint):
    meta = json.loads((bare_checkpoint(23) / "config.json").read_text())
    assert meta["input"] == {
        "n_chans": 23,
        "sfreq": 256.0,
        "window_s": 60.0,
        "montage": None,
        "channels": None,
    }
    det = Detector.from_checkpoint(bare_checkpoint(23))
    assert det.preprocess_config.montage == "as_is"  # ref19 cannot give 23 channels
    assert det.input.montage == "as_is" and det.input.channels is None
    # legacy, real-recipe and bundled checkpoints: tests/test_contract_checkpoints.py


def test_contract_count_only_checkpoint(bare_checkpoint):
    det = Detector.from_checkpoint(bare_checkpoint(23))
    with pytest.raises(InputMismatchError) as err:
        det.run(make_recording(30.0, sfreq=256.0, n_seizures=0, seed=6))
    text = str(err.value)
    assert "\n" not in text
    assert "takes 23 channels" in text and "gives 19 channels" in text and "bare23" in text
    names = [f"E{i}" for i in range(23)]
    noise = np.random.default_rng(0).standard_normal((23, 256 * 30)).astype(np.float32) * 20
    result = det.run(Recording(noise, 256.0, names))
    assert result.recording.n_channels == 23


def test_contract_named_channels_reorder_and_missing():
    spec = InputSpec(3, 256.0, 60.0, "as_is", ("A", "B", "C"))
    assert spec.check(["A", "B", "C"], 256.0, "r") is None
    assert spec.check(["c", "a", "b"], 256.0, "r") == [1, 2, 0]
    with pytest.raises(InputMismatchError, match=r"r: does not fit .* missing C; not used .*: D"):
        spec.check(["A", "B", "D"], 256.0, "r")
    with pytest.raises(InputMismatchError, match="at 128 Hz"):
        spec.check(["A", "B", "C"], 128.0, "r")


def test_contract_named_checkpoint_reorders_blockwise_too(tmp_path):
    from eegssm.io.annotations import write_edf

    names = ["Fp1", "Fp2", "Cz", "Pz"]
    model = SeizureDetector.from_preset("fast", n_chans=4)
    spec = InputSpec(4, 256.0, 20.0, "as_is", tuple(names))
    model.save_pretrained(tmp_path / "ckpt", metadata={"input": spec.to_json(), "window_s": 20.0})
    det = Detector.from_checkpoint(tmp_path / "ckpt")
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((4, 256 * 50)) * 20).astype(np.float32)
    shuffled = Recording(data[[2, 0, 3, 1]], 256.0, [names[i] for i in (2, 0, 3, 1)])
    write_edf(tmp_path / "r.edf", shuffled)
    whole = det.run_file(tmp_path / "r.edf")
    blocks = det.run_file(tmp_path / "r.edf", block_s=20.0)
    assert whole.recording.ch_names == names == blocks.recording.ch_names
    np.testing.assert_allclose(whole.probs, blocks.probs, atol=2e-3)


def test_cli_23_channel_checkpoint_on_19_channel_file(bare_checkpoint, tmp_path, capsys):
    from eegssm.cli import main
    from eegssm.io.annotations import write_edf

    rec = make_recording(30.0, sfreq=256.0, n_seizures=0, seed=7)
    write_edf(tmp_path / "rec.edf", rec)
    ckpt = bare_checkpoint(23)
    argv = ["detect", str(tmp_path / "rec.edf"), "--checkpoint", str(ckpt)]
    assert main([*argv, "--out", str(tmp_path / "out"), "-q"]) != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert "takes 23 channels" in errors[0] and "gives 19 channels" in errors[0]
    assert not (tmp_path / "out" / "rec.json").exists()


# -- hub-style checkpoints ---------------------------------------------------------------------
def test_save_pretrained_writes_card_and_loads_back(tmp_path):
    torch.manual_seed(0)
    model = SeizureDetector.from_preset("fast", n_chans=19)
    model.save_pretrained(tmp_path / "m")
    card = (tmp_path / "m" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: eegssm")
    assert "| channels | 19: not recorded |" in card and "256 Hz" in card
    back = SeizureDetector.from_pretrained(str(tmp_path / "m"))
    x = torch.randn(1, 19, 2048)
    model.eval(), back.eval()
    torch.testing.assert_close(model(x), back(x))


def test_from_pretrained_repo_id(tmp_path, monkeypatch):
    from eegssm.hub import looks_like_repo_id, resolve_checkpoint

    assert looks_like_repo_id("owner/name") and not looks_like_repo_id("../x/y")
    assert not looks_like_repo_id("/abs/path") and not looks_like_repo_id("a/b/c")
    with pytest.raises(FileNotFoundError, match="no such checkpoint folder"):
        resolve_checkpoint(tmp_path / "missing" / "deeper")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed
    with pytest.raises(ImportError, match="pip install huggingface_hub"):
        SeizureDetector.from_pretrained("someone/seizure-model")
    SeizureDetector.from_preset("fast", n_chans=19).save_pretrained(tmp_path / "snap")
    calls = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.append((repo_id, revision, tuple(allow_patterns)))
        return str(tmp_path / "snap")

    fake = types.ModuleType("huggingface_hub")
    fake.snapshot_download = snapshot_download
    monkeypatch.setitem(sys.modules, "huggingface_hub", fake)
    det = Detector.from_checkpoint("someone/seizure-model", revision="v1")
    assert det.input.n_chans == 19
    assert calls == [
        ("someone/seizure-model", "v1", ("config.json", "model.safetensors", "README.md"))
    ]


def test_cli_rename_reaches_the_model_the_json_and_the_review_page(tmp_path):
    from eegssm.cli import main
    from eegssm.io.annotations import write_edf
    from eegssm.report.html import page_data

    rec = make_recording(30.0, sfreq=256.0, n_seizures=0, seed=8)
    odd = [f"EEG {i + 1}" for i in range(len(rec.ch_names))]
    write_edf(tmp_path / "odd.edf", Recording(rec.data, rec.sfreq, odd))
    argv = ["detect", str(tmp_path / "odd.edf"), "--out", str(tmp_path / "out"), "-q"]
    renames = [f"{o}={n}" for o, n in zip(odd, rec.ch_names)]
    report = tmp_path / "odd.html"
    assert (
        main([*argv, *(x for r in renames for x in ("--rename", r)), "--report", str(report)]) == 0
    )
    doc = json.loads((tmp_path / "out" / "odd.json").read_text())
    assert doc["renamed_channels"] == dict(zip(odd, rec.ch_names))
    data = page_data(report.read_text())
    assert data["montages"][0]["rows"][0]["label"] == "Fp1-F7"  # montages found by the new names
