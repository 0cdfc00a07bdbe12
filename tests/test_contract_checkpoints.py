"""The input contract of every kind of checkpoint: the real-data recipe's (what the bundled
checkpoint is built by, with its ``input`` section whole or only ``montage`` + ``channels``), the
synthetic recipe's, a bare ``save_pretrained``, one written before ``input`` existed, and the
bundled one, whichever recipe made it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eegssm.contract import InputMismatchError, InputSpec, montage_channels, preprocess_config_of
from eegssm.data.synthetic import make_recording
from eegssm.detection import Detector
from eegssm.io.types import Recording
from eegssm.models.detector import SeizureDetector
from eegssm.preprocessing.montages import CHBMIT_NAMES_23, REFERENTIAL_19, MissingChannelsError

BANANA = tuple(CHBMIT_NAMES_23[:18])
POINTS = [
    {
        "target_fa_per_24h": 10.0,
        "threshold": 0.5,
        "off_threshold": 0.42,
        "false_alarms": 1,
        "fa_per_24h": 11.0,
        "seizures_flagged": 5,
        "seizures": 7,
        "split": "out-of-fold",
    }
]


@pytest.fixture(scope="module")
def real_recipe_checkpoint(tmp_path_factory):
    """``OUT/model`` as ``detector_real.train_final`` writes it, with an untrained model: the
    metadata, weights and model card come from the recipe's own code."""
    from eegssm.config import RealDetectorRecipe
    from eegssm.data.seizure_examples import Segment
    from eegssm.recipes import detector_real

    out = tmp_path_factory.mktemp("real")
    recipe = RealDetectorRecipe(output_dir=str(out))
    rng = np.random.default_rng(0)
    data = rng.standard_normal((18, 256 * 20)).astype(np.float32)
    segments = [
        Segment("a", "s1", "eegmat", data, np.zeros(data.shape[1], np.uint8), 256.0, list(BANANA))
    ]
    evidence = {
        "operating_points": POINTS,
        "note": "one false alarm is 11 FA/24h",
        "negative_hours": 2.1,
        "negative_recordings": 11,
        "fa_resolution_per_24h": 11.0,
        "curve": {},
    }

    def untrained(recipe, segments, bonn, out_dir, seed, progress=False):
        torch.manual_seed(seed)
        model = detector_real.build_model(recipe, len(segments[0].ch_names), segments[0].sfreq)
        return model.eval(), {"steps": 0, "seconds": 0.0}

    original = detector_real.train_model
    detector_real.train_model = untrained
    try:
        folder = detector_real.train_final(recipe, segments, None, evidence)
    finally:
        detector_real.train_model = original
    meta = json.loads((folder / "config.json").read_text())
    detector_real.write_model_card(folder, meta)
    return folder


def _partial_copy(folder, dest):
    """The checkpoint as the recipe wrote it before the whole ``input`` section (``montage``
    and ``channels`` only): what the next bundled checkpoint may hold."""
    dest.mkdir()
    meta = json.loads((folder / "config.json").read_text())
    meta["input"] = {k: meta["input"][k] for k in ("montage", "channels")}
    (dest / "config.json").write_text(json.dumps(meta))
    (dest / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    return dest


def _referential(seconds=40.0, seed=4, drop=()):
    rec = make_recording(seconds, sfreq=256.0, n_seizures=0, seed=seed)
    keep = [i for i, n in enumerate(rec.ch_names) if n not in drop]
    names = [rec.ch_names[i] for i in keep]
    return Recording(rec.data[keep], rec.sfreq, names, meta={"source": "r"})


# -- the real-data recipe ----------------------------------------------------------------------
def test_real_recipe_checkpoint_records_the_whole_contract(real_recipe_checkpoint):
    meta = json.loads((real_recipe_checkpoint / "config.json").read_text())
    assert meta["input"] == {
        "n_chans": 18,
        "sfreq": 256.0,
        "window_s": 30.0,
        "montage": "double_banana",
        "channels": list(BANANA),
    }
    card = (real_recipe_checkpoint / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: eegssm\n") and "\n# eegssm bundled" in card


@pytest.mark.parametrize("form", ["whole", "montage and channels only"])
def test_real_recipe_checkpoint_loads_and_runs(real_recipe_checkpoint, tmp_path, form):
    folder = real_recipe_checkpoint
    if form != "whole":
        folder = _partial_copy(folder, tmp_path / "partial")
    det = Detector.from_checkpoint(folder)
    assert det.input == InputSpec(18, 256.0, 30.0, "double_banana", BANANA, max_missing=4)
    assert det.window_s == 30.0 and det.stride_s == 15.0
    assert "up to 4 may be missing" in det.input.describe()
    # the weights load by path, as a Hub folder would
    model = SeizureDetector.from_pretrained(folder).eval()
    x = torch.randn(1, 18, 1024)
    torch.testing.assert_close(model(x), det.model(x))
    # a referential 19-channel recording gives the 18 derivations
    full = det.run(_referential())
    assert full.recording.ch_names == list(BANANA)
    # without O1 and O2 four derivations are left out, as the checkpoint allows ...
    partial = det.run(_referential(drop=("O1", "O2")))
    assert partial.recording.meta["dropped"] == ["P7-O1", "P3-O1", "P4-O2", "P8-O2"]
    assert len(partial.recording.ch_names) == 14 and set(partial.recording.ch_names) < set(BANANA)
    assert partial.probs.shape == full.probs.shape
    # ... one more is refused by the montage handling, naming what is missing
    with pytest.raises(MissingChannelsError, match="at most 4"):
        det.run(_referential(drop=("O1", "O2", "T3")))
    # the generic model card reads the partial section too
    from eegssm.hub import model_card

    card = model_card(json.loads((folder / "config.json").read_text()))
    assert "| channels | 18: FP1-F7, F7-T7" in card
    assert "| channels that may be missing | 4 |" in card
    assert "| 10 | 0.500 | out-of-fold |" in card


def test_real_recipe_checkpoint_on_the_command_line(real_recipe_checkpoint, tmp_path, capsys):
    from eegssm.cli import main
    from eegssm.io.annotations import write_edf

    write_edf(tmp_path / "rec.edf", _referential())
    folder = _partial_copy(real_recipe_checkpoint, tmp_path / "partial")
    argv = ["detect", str(tmp_path / "rec.edf"), "--checkpoint", str(folder)]
    assert main([*argv, "--out", str(tmp_path / "out"), "-q"]) == 0
    out = json.loads((tmp_path / "out" / "rec.json").read_text())
    assert out["checkpoint"]["input"]["channels"] == list(BANANA)
    assert out["checkpoint"]["input"]["window_s"] == 30.0
    assert out["montage"]["montage"] == "double_banana"
    # too few derivations: one line naming the file, the checkpoint's input and what is missing
    write_edf(tmp_path / "few.edf", _referential(drop=("O1", "O2", "T3")))
    capsys.readouterr()
    argv = ["detect", str(tmp_path / "few.edf"), "--checkpoint", str(folder)]
    assert main([*argv, "--out", str(tmp_path / "out2"), "-q"]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {tmp_path / 'few.edf'}: does not fit")
    assert "up to 4 may be missing" in errors[0] and "missing ['T3', 'O1', 'O2']" in errors[0]
    assert not (tmp_path / "out2" / "few.json").exists()
    # evaluate on a labelled folder holding that recording: the same one line
    from eegssm.io.annotations import write_csv_bi

    (tmp_path / "labelled").mkdir()
    (tmp_path / "few.edf").rename(tmp_path / "labelled" / "few.edf")
    write_csv_bi(tmp_path / "labelled" / "few.csv_bi", [], 40.0)
    argv = ["evaluate", str(folder), str(tmp_path / "labelled"), "--out", str(tmp_path / "ev")]
    assert main([*argv, "-q"]) != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "few.edf: does not fit checkpoint" in errors[0]


# -- the synthetic recipe, bare and legacy checkpoints ---------------------------------------
def test_synthetic_recipe_metadata_records_the_contract(tmp_path):
    from eegssm.config import load_config
    from eegssm.config.recipes import DetectorRecipe
    from eegssm.recipes.detector import model_metadata

    recipe = load_config("configs/detector_synthetic.yaml", DetectorRecipe)
    model = SeizureDetector.from_preset("fast", n_chans=19)
    meta = model_metadata(model, recipe)
    assert meta["input"]["montage"] == "ref19" and meta["input"]["channels"] == list(REFERENTIAL_19)
    assert InputSpec.from_meta(meta).max_missing == 0


def test_bare_save_pretrained_completes_a_partial_input(tmp_path):
    from eegssm.preprocessing.pipeline import get_preset

    torch.manual_seed(0)
    model = SeizureDetector.from_preset("fast", n_chans=18)
    pre = get_preset("seizure", montage="double_banana", missing="drop", max_missing=2)
    model.save_pretrained(
        tmp_path / "m",
        metadata={"preprocess": {"preset": "seizure", "config": pre.model_dump(mode="json")}},
    )
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["input"]["montage"] == "double_banana"
    assert meta["input"]["channels"] == list(BANANA)
    assert Detector.from_checkpoint(tmp_path / "m").input.max_missing == 2


def test_checkpoint_written_before_the_input_section(tmp_path):
    from eegssm.preprocessing.pipeline import get_preset

    SeizureDetector.from_preset("fast", n_chans=19).save_pretrained(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "config.json").read_text())
    del meta["input"]
    meta["preprocess"] = {"preset": "seizure", "config": get_preset("seizure").model_dump()}
    (tmp_path / "old" / "config.json").write_text(json.dumps(meta))
    spec = Detector.from_checkpoint(tmp_path / "old").input
    assert spec == InputSpec(19, 256.0, 60.0, "ref19", tuple(REFERENTIAL_19))


def test_bundled_checkpoint_contract_matches_its_preprocessing():
    """Whichever recipe built the bundled checkpoint, its contract is its preprocessing's."""
    det = Detector.from_checkpoint()
    pre, spec = det.preprocess_config, det.input
    assert spec.montage == pre.montage and spec.sfreq == pre.sfreq
    assert spec.channels == montage_channels(pre.montage) and spec.n_chans == det.model.n_chans
    assert spec.max_missing == ((pre.max_missing or 0) if pre.missing == "drop" else 0)
    assert preprocess_config_of(det.meta) == pre
    result = det.run(_referential(30.0))
    assert result.recording.ch_names == list(spec.channels)


# -- the check itself -------------------------------------------------------------------------
def test_named_channels_with_some_allowed_missing():
    spec = InputSpec(4, 256.0, 30.0, "m", ("A", "B", "C", "D"), max_missing=2)
    assert spec.check(["A", "B", "C", "D"], 256.0, "r") is None
    assert spec.check(["A", "C", "D"], 256.0, "r") is None  # in model order already
    assert spec.check(["d", "a"], 256.0, "r") == [1, 0]
    with pytest.raises(InputMismatchError, match=r"missing B, C, D \(at most 2 may be\)"):
        spec.check(["A"], 256.0, "r")
    with pytest.raises(InputMismatchError, match="not used by the checkpoint: E"):
        spec.check(["A", "B", "E"], 256.0, "r")
    with pytest.raises(InputMismatchError, match="duplicate channels"):
        spec.check(["A", "B", "a"], 256.0, "r")
    strict = InputSpec(4, 256.0, 30.0, "m", ("A", "B", "C", "D"))
    with pytest.raises(InputMismatchError, match=r"r: does not fit checkpoint: .* missing D;"):
        strict.check(["A", "B", "C"], 256.0, "r")


def test_count_only_with_allowed_missing():
    spec = InputSpec(5, 256.0, 30.0, None, None, max_missing=1)
    assert spec.check(list("ABCDE"), 256.0, "r") is None
    assert spec.check(list("ABCD"), 256.0, "r") is None
    with pytest.raises(InputMismatchError, match="takes 5 channels .* gives 3 channels"):
        spec.check(list("ABC"), 256.0, "r")
    with pytest.raises(ValueError, match="max_missing"):
        InputSpec(2, 256.0, 30.0, max_missing=2)
