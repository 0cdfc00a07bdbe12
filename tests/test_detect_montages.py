"""Any montage in, one checkpoint: referential recordings of any reference and label style,
bipolar recordings (CHB-MIT's chain with its junk channels), short files and flat channels, through
a double-banana checkpoint as the bundled one is built."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict

import numpy as np
import pytest
import torch

from eegssm.cli import main
from eegssm.data.synthetic import make_recording, write_edf
from eegssm.detection import Detector
from eegssm.io.types import Recording
from eegssm.postprocess import PostprocessConfig
from eegssm.preprocessing.montages import CHBMIT_NAMES_23, REFERENTIAL_19, MissingChannelsError
from eegssm.preprocessing.pipeline import FlatRecordingError, get_preset

BANANA = list(CHBMIT_NAMES_23[:18])
POINTS = [{"target_fa_per_24h": 10.0, "threshold": 0.5, "off_threshold": 0.42}]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained `fast` detector with the bundled checkpoint's input contract."""
    from eegssm.models.detector import SeizureDetector

    folder = tmp_path_factory.mktemp("banana")
    torch.manual_seed(0)
    SeizureDetector.from_preset("fast", n_chans=18).save_pretrained(folder)
    meta = json.loads((folder / "config.json").read_text())
    pre = get_preset(
        "seizure", montage="double_banana", missing="drop", max_missing=4, h_freq=45.0,
        notch=(50.0, 60.0), window_s=60.0, stride_s=30.0,
    )  # fmt: skip
    meta.update(
        preprocess={"preset": "seizure", "config": pre.model_dump(mode="json")},
        window_s=60.0,
        stride_s=30.0,
        postprocess=asdict(PostprocessConfig()),
        operating_points=POINTS,
    )
    (folder / "config.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def referential():
    rec = make_recording(40.0, sfreq=256.0, n_seizures=0, seed=4)
    rec.meta["source"] = "ref.edf"
    return rec


def _as_bipolar(rec: Recording) -> Recording:
    """The recording as CHB-MIT stores it: 23 derivations (T8-P8 twice) plus junk channels."""
    from eegssm.preprocessing.montages import apply_montage

    chain = apply_montage(rec, "chbmit23", missing="interpolate")  # FT9, FT10 by splines
    labels = [*CHBMIT_NAMES_23[:22], "T8-P8-1", "-", "ECG", "VNS"]
    extra = np.random.default_rng(0).standard_normal((3, rec.n_times)).astype(np.float32) * 50
    extra[0] = 0.0  # CHB-MIT's "-" placeholder channel is empty
    return Recording(
        np.concatenate([chain.data, extra]), rec.sfreq, labels, meta={"source": "chb.edf"}
    )


def _with_ears(rec: Recording) -> Recording:
    ears = np.zeros((2, rec.n_times), dtype=np.float32)
    return rec.copy_with(
        data=np.concatenate([rec.data, ears]), ch_names=[*rec.ch_names, "A1", "A2"]
    )


def test_referential_and_bipolar_give_the_same_probabilities(checkpoint, referential):
    det = Detector.from_checkpoint(checkpoint)
    ref = det.run(referential)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # CHB-MIT's numbered duplicate and junk: no warning
        bip = det.run(_as_bipolar(referential))
    assert ref.recording.ch_names == bip.recording.ch_names == BANANA
    assert ref.recording.meta["input"].startswith("referential (19 electrodes")
    assert bip.recording.meta["input"].startswith("bipolar (22 derivations; ignored: -, ECG, VNS")
    np.testing.assert_allclose(ref.probs, bip.probs, atol=1e-4)


@pytest.mark.parametrize("style", ["EEG {u}-REF", "{u}-LE", "EEG {n}", "{n}-A1"])
def test_label_styles_and_references(checkpoint, referential, style):
    det = Detector.from_checkpoint(checkpoint)
    base = det.run(referential).probs
    rec = _with_ears(referential)
    ref_row = rec.data[-2] if style == "{n}-A1" else rec.data[:19].mean(0)
    stored = rec.data[:19] - ref_row  # what a linked-ear / ear / average-referenced file holds
    labels = [style.format(n=n, u=n.upper()) for n in REFERENTIAL_19]
    out = det.run(Recording(stored, 256.0, labels, meta={"source": "x"}))
    assert out.recording.ch_names == BANANA
    np.testing.assert_allclose(out.probs, base, atol=1e-4)


def test_a_10_second_file_gets_a_decision(checkpoint, referential):
    det = Detector.from_checkpoint(checkpoint)
    short = referential.copy_with(data=referential.data[:, : 10 * 256])
    out = det.run(short)
    assert out.probs.shape == (2560,) and np.isfinite(out.probs).all()


def test_flat_channels_are_missing_and_a_flat_recording_is_an_error(checkpoint, referential):
    det = Detector.from_checkpoint(checkpoint)
    rec = _as_bipolar(referential)
    rec.data[[0, 5]] = 1e-3 * np.sin(np.arange(rec.n_times))  # near-zero: 0.0007 µV RMS
    with pytest.warns(UserWarning, match=r"chb.edf: flat channel\(s\) FP1-F7, F3-C3"):
        out = det.run(rec)
    assert out.recording.meta["dropped"] == ["FP1-F7", "F3-C3"]
    assert len(out.recording.ch_names) == 16
    flat = rec.copy_with(data=np.zeros_like(rec.data))
    with pytest.raises(FlatRecordingError, match="chb.edf: all 23 EEG channels are flat"):
        det.run(flat)


def test_too_few_derivations_name_what_is_missing(checkpoint, referential):
    det = Detector.from_checkpoint(checkpoint)
    rec = _as_bipolar(referential)
    keep = [i for i, n in enumerate(rec.ch_names) if not n.startswith(("FP1", "FP2", "F7"))]
    few = Recording(rec.data[keep], 256.0, [rec.ch_names[i] for i in keep], meta={"source": "x"})
    with pytest.raises(MissingChannelsError, match="FP1-F7"):
        det.run(few)


def test_detect_command_on_chbmit_like_edf(checkpoint, referential, tmp_path, capsys):
    rec = _as_bipolar(referential)
    labels = [n if n != "T8-P8-1" else "T8-P8" for n in rec.ch_names]  # as CHB-MIT writes it
    edf = write_edf(tmp_path / "chb99_01.edf", rec.data[:, : 10 * 256], 256.0, labels)
    code = main(["detect", str(edf), "--checkpoint", str(checkpoint), "--fa-per-24h", "10",
                 "--out", str(tmp_path / "out"), "-q"])  # fmt: skip
    assert code == 0
    doc = json.loads((tmp_path / "out" / "chb99_01.json").read_text())
    assert doc["montage"]["input"].startswith("bipolar") and doc["channels"] == BANANA
    assert doc["duration_s"] == pytest.approx(10.0)


def test_detect_prints_the_montage_decision(checkpoint, referential, tmp_path, capsys):
    edf = write_edf(tmp_path / "ref.edf", referential.data, 256.0, referential.ch_names)
    code = main(["detect", str(edf), "--checkpoint", str(checkpoint), "--out",
                 str(tmp_path / "o"), "--montage", "referential"])  # fmt: skip
    assert code == 0
    assert (
        "ref.edf: montage: referential (19 electrodes) → double_banana" in capsys.readouterr().out
    )
