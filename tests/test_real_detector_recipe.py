"""The real-data detector recipe's parts: corpora readers, synthetic ictal patterns on montaged
EEG, training examples (normalisation as the pipeline does it, seeding), folds, out-of-fold
operating points, and a two-fold smoke run of the whole recipe on a few real recordings."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from eegssm.config import ExamplesConfig, PostprocessConfig, RealDetectorRecipe
from eegssm.data import ictal
from eegssm.data.seizure_examples import ExampleSampler, Segment, join, zscore_like_preprocess
from eegssm.preprocessing.filters import zscore
from eegssm.preprocessing.montages import CHBMIT_NAMES_23

BANANA = list(CHBMIT_NAMES_23[:18])


def _segment(name, n_s=60.0, kind="recording", subject="s1", seed=0, dataset="x"):
    rng = np.random.default_rng(seed)
    n = int(n_s * 256)
    data = (rng.standard_normal((18, n)) * 10).astype(np.float32)
    labels = np.full(n, kind == "ictal", dtype=np.uint8)
    group = subject if kind != "recording" else ""
    return Segment(name, subject, dataset, data, labels, 256.0, BANANA, kind, group)


# -- corpora ----------------------------------------------------------------------------------
def test_chbmit_clips_and_summary_channels(shared_data):
    from eegssm.data.corpora import chbmit_summary_channels, read_chbmit_clips

    folder = shared_data / "chbmit_clips" / "chb01"
    names = chbmit_summary_channels(folder / "chb01-summary.txt")
    assert names[:18] == BANANA and names[-1] == "T8-P8-1" and len(names) == 23
    clips = read_chbmit_clips(folder)
    assert len(clips) == 14
    ictal_clips = [c for c in clips if c.meta["kind"] == "ictal"]
    assert len(ictal_clips) == 7 and all(
        c.events[0].stop == pytest.approx(10.0, abs=0.01) for c in ictal_clips
    )
    assert all(c.meta["subject"] == "chb01" and c.sfreq == 256.0 for c in clips)


def test_bonn_set_reader(shared_data):
    from eegssm.data.corpora import read_bonn_set

    s = read_bonn_set(shared_data / "bonn" / "S.zip")
    assert s.shape == (100, 4097) and s.dtype == np.float32
    assert np.abs(s).max() > 100  # µV of intracranial ictal activity


# -- synthetic ictal patterns -----------------------------------------------------------------
def test_channel_pairs_follow_the_montage():
    pairs = ictal.ChannelPairs.from_names(["FP1-F7", "T8-P8-1", "EEG Cz", "ECG"])
    field = np.random.default_rng(0).standard_normal((len(ictal.ELECTRODES), 50))
    out = pairs.apply(field)
    e = {n: i for i, n in enumerate(ictal.ELECTRODES)}
    np.testing.assert_allclose(out[0], field[e["Fp1"]] - field[e["F7"]])
    np.testing.assert_allclose(out[1], field[e["T4"]] - field[e["T6"]])  # T8-P8 = T4-T6
    np.testing.assert_allclose(out[2], field[e["Cz"]])
    assert not out[3].any() and not pairs.known[3]


@pytest.mark.parametrize("kind", [*ictal.KINDS])
def test_add_seizure_reaches_its_signal_to_background_ratio(kind):
    rng = np.random.default_rng(1)
    data = (np.random.default_rng(2).standard_normal((18, 256 * 40)) * 10).astype(np.float32)
    before = data.copy()
    bonn = np.random.default_rng(3).standard_normal((3, 6000)) * 100
    info = ictal.add_seizure(
        rng, data, BANANA, 256.0, 256 * 5, 256 * 20, snr_range=(3.0, 3.0), p_muscle=0.0,
        p_attenuate=0.0, kind=kind, bonn=bonn,
    )  # fmt: skip
    assert info["kind"] == kind and info["snr"] == pytest.approx(3.0)
    added = data - before
    assert not added[:, : 256 * 5].any() and not added[:, 256 * 25 :].any()
    ratio = np.sqrt(np.mean(added[:, 256 * 5 : 256 * 25] ** 2, axis=1)) / ictal.channel_rms(before)
    assert ratio.max() == pytest.approx(3.0, rel=0.05)


def test_seizure_sources_are_unit_rms_and_deterministic():
    for kind in ictal.KINDS[:-1]:
        a = ictal.source_waveform(np.random.default_rng(5), kind, 2560, 256.0)
        b = ictal.source_waveform(np.random.default_rng(5), kind, 2560, 256.0)
        np.testing.assert_array_equal(a, b)
        assert np.sqrt(np.mean(a**2)) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="unknown seizure kind"):
        ictal.source_waveform(np.random.default_rng(0), "tonic", 100, 256.0)


def test_background_rhythm_is_steady_and_scaled():
    rng = np.random.default_rng(4)
    data = (np.random.default_rng(5).standard_normal((18, 256 * 30)) * 10).astype(np.float32)
    before = data.copy()
    info = ictal.background_rhythm(rng, data, BANANA, 256.0, snr_range=(2.0, 2.0))
    added = data - before
    assert 4.0 <= info["freq"] <= 12.0
    ratio = np.sqrt(np.mean(added**2, axis=1)) / ictal.channel_rms(before)
    assert ratio.max() == pytest.approx(2.0, rel=1e-3)
    first, last = added[:, : 256 * 10], added[:, -256 * 10 :]  # present from start to end
    assert np.sqrt(np.mean(first**2)) == pytest.approx(np.sqrt(np.mean(last**2)), rel=0.35)


def test_a_focal_seizure_cancels_far_from_its_focus_in_bipolar():
    rng = np.random.default_rng(7)
    field, involvement, _ = ictal.seizure_field(rng, 2560, 256.0, "rhythmic", p_generalise=0.0)
    assert involvement.max() == pytest.approx(1.0)
    assert (involvement < 0.5).sum() >= 5  # a regional seizure leaves far electrodes quiet


# -- examples ---------------------------------------------------------------------------------
def test_zscore_like_preprocess_matches_the_pipeline():
    x = (np.random.default_rng(0).standard_normal((18, 5000)) * 20 + 3).astype(np.float32)
    np.testing.assert_allclose(zscore_like_preprocess(x, x), zscore(x, 10.0), atol=1e-6)
    part = zscore_like_preprocess(x[:, 100:600], x)
    np.testing.assert_allclose(part, zscore(x, 10.0)[:, 100:600], atol=1e-6)


def test_join_cross_fades_and_places_pieces():
    a, b = _segment("a", 10.0), _segment("b", 10.0, kind="ictal", seed=1)
    data, labels, starts = join([a, b], 128)
    assert data.shape[1] == 2 * 2560 - 128 and starts == [0, 2560 - 128]
    np.testing.assert_array_equal(data[:, :2432], a.data[:, :2432])
    np.testing.assert_array_equal(data[:, 2560:], b.data[:, 128:])
    assert labels[starts[1] :].all() and not labels[: starts[1]].any()


def test_sampler_batches_are_seeded_shaped_and_normalised():
    segs = [_segment(f"r{i}", 70.0, subject=f"s{i}", seed=i) for i in range(3)]
    segs += [_segment("c1", 10.0, "ictal", "p", 9), _segment("c1", 10.0, "preictal", "p", 10)]
    cfg = ExamplesConfig(lengths_s=(10.0,), length_weights=(1.0,), p_drop=0.0)
    s = ExampleSampler(segs, None, None, cfg, batch_size=6, steps_per_epoch=2, seed=3)
    x1, y1, m1 = next(iter(s))
    x2, y2, _ = next(iter(s))
    assert x1.shape == (6, 18, 2560) and y1.shape == (6, 2560) and m1.all()
    assert (x1 == x2).all() and (y1 == y2).all()  # same (seed, epoch, index): same batch
    s.set_epoch(1)
    assert not (next(iter(s))[0] == x1).all()
    assert float(x1.abs().max()) <= 10.0
    drop = ExampleSampler(segs, None, None, replace_cfg(cfg, p_drop=1.0, max_drop=2), 4, 1, 0)
    assert next(iter(drop))[0].shape[1] in (16, 17)


def replace_cfg(cfg: ExamplesConfig, **changes) -> ExamplesConfig:
    return cfg.model_copy(update=changes)


def test_real_ictal_clip_alone_at_10_s_is_all_seizure():
    segs = [_segment("r", 70.0), _segment("c", 10.0, "ictal", "p", 1)]
    segs.append(_segment("c", 10.0, "preictal", "p", 2))
    cfg = ExamplesConfig(
        lengths_s=(10.0,), length_weights=(1.0,), p_real_ictal=1.0, p_clip_background=0.0,
        p_muscle_artifact=0.0, p_rhythmic_run=0.0,
    )  # fmt: skip
    s = ExampleSampler(segs, None, None, cfg, 1, 1, 0)
    ex = s.example(np.random.default_rng(0), 2560)
    assert ex.y.all()
    np.testing.assert_allclose(ex.x, zscore(segs[1].data[:, :2560], 10.0), atol=1e-5)


def test_fixed_scale_examples_keep_amplitude_up_to_one_gain():
    """With ``scale_uv`` an example is ``crop * gain / scale_uv``: one gain per example from
    ``cfg.gain``, so amplitudes keep their µV ratios (a 10x larger clip stays ~10x larger)."""
    segs = [_segment("r", 70.0), _segment("c", 10.0, "ictal", "p", 1)]
    segs.append(_segment("c", 10.0, "preictal", "p", 2))
    cfg = ExamplesConfig(
        lengths_s=(10.0,), length_weights=(1.0,), p_real_ictal=1.0, p_clip_background=0.0,
        p_muscle_artifact=0.0, p_rhythmic_run=0.0, gain=(0.5, 2.0),
    )  # fmt: skip
    s = ExampleSampler(segs, None, None, cfg, 1, 1, 0, scale_uv=50.0)
    gains = []
    for seed in range(8):
        ex = s.example(np.random.default_rng(seed), 2560)
        ratio = ex.x * 50.0 / segs[1].data[:, :2560]
        np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-4)
        gains.append(float(ratio.flat[0]))
    assert 0.5 <= min(gains) < max(gains) <= 2.0


# -- folds and operating points ---------------------------------------------------------------
def test_folds_hold_out_one_seizure_and_whole_subjects():
    from eegssm.recipes.detector_real import assign_folds

    segs = [_segment(f"sz{i}", 10.0, k, "p", i) for i in range(3) for k in ("ictal", "preictal")]
    segs += [_segment(f"s{j}_{r}", 60.0, subject=f"s{j}") for j in range(5) for r in (1, 2)]
    folds = assign_folds(segs, 3)
    assert sorted(folds[f"sz{i}"] for i in range(3)) == [0, 1, 2]
    for j in range(5):
        assert folds[f"s{j}_1"] == folds[f"s{j}_2"]


def test_operating_points_from_out_of_fold_negatives():
    from eegssm.recipes.detector_real import choose_points, key

    recipe = RealDetectorRecipe(output_dir="x", evaluation={"n_thresholds": 19})
    negs = [_segment(f"n{i}", 600.0, seed=i) for i in range(3)]
    seizures = [_segment("c", 10.0, "ictal", "p"), _segment("c", 10.0, "preictal", "p")]
    probs = {key(s): np.full(s.data.shape[1], 0.1, np.float32) for s in negs + seizures}
    probs[key(negs[0])][1000:3000] = 0.62  # one 7.8-s false alarm at thresholds <= 0.6
    probs[key(seizures[0])][:] = 0.9
    ev = choose_points(recipe, negs + seizures, probs)
    hours = (3 * 600 + 10) / 3600
    assert ev["negative_hours"] == pytest.approx(hours)
    assert ev["fa_resolution_per_24h"] == pytest.approx(24 / hours)
    p10 = ev["operating_points"][0]
    # 0 false alarms and the onset flagged from 0.65 to 0.85: the middle of that run
    assert p10["threshold"] == pytest.approx(0.75) and p10["false_alarms"] == 0
    curve = ev["curve"]
    same = [
        t for t, f, k in zip(curve["thresholds"], curve["false_alarms"], curve["seizures_flagged"])
        if f == 0 and k == 1
    ]  # fmt: skip
    assert min(same) == pytest.approx(0.65) and max(same) == pytest.approx(0.85)
    assert p10["seizures_flagged"] == 1 and "cannot be told apart" in ev["note"]
    assert ev["chbmit_clip_auroc"] != ev["chbmit_clip_auroc"]  # NaN: no chbmit dataset here


def test_events_at_keeps_the_hysteresis_gap():
    from eegssm.recipes.detector_real import events_at

    p = np.zeros(256 * 20, np.float32)
    p[256 * 5 : 256 * 12] = 0.7
    pp = PostprocessConfig()
    assert len(events_at(p, 256.0, 0.6, pp)) == 1 and not events_at(p, 256.0, 0.75, pp)
    assert replace(pp).on_threshold == 0.86  # the config itself is untouched


def test_train_model_runs_and_resumes(tmp_path):
    from eegssm.recipes.detector_real import predict_segment, train_model

    segs = [_segment(f"r{i}", 40.0, subject=f"s{i}", seed=i) for i in range(2)]
    recipe = RealDetectorRecipe(
        output_dir=str(tmp_path),
        examples={"lengths_s": [10.0], "length_weights": [1.0]},
        optim={"max_steps": 1, "steps_per_epoch": 1, "batch_size": 1, "checkpoint_every": 1},
    )
    model, info = train_model(recipe, segs, None, tmp_path, seed=0)
    assert info["steps"] == 1 and (tmp_path / "checkpoints" / "last").is_dir()
    p = predict_segment(model, segs[0], recipe)
    assert p.shape == (segs[0].data.shape[1],) and np.isfinite(p).all()
    again, info = train_model(recipe, segs, None, tmp_path, seed=0)  # resumed: nothing to do
    for a, b in zip(model.parameters(), again.parameters()):
        assert (a == b).all()


# -- the whole recipe on a few real recordings --------------------------------------------------
@pytest.mark.slow
def test_two_fold_smoke_run_writes_a_loadable_checkpoint_with_its_card(shared_data, tmp_path):
    from eegssm.detection import Detector
    from eegssm.recipes.detector_real import train_detector_real, write_model_card

    data = tmp_path / "data"
    (data / "eegmat").mkdir(parents=True)
    for name in ("Subject00_1.edf", "Subject00_2.edf", "Subject01_2.edf", "Subject02_2.edf"):
        (data / "eegmat" / name).symlink_to(shared_data / "eegmat" / name)
    (data / "chbmit_clips").mkdir()
    (data / "chbmit_clips" / "chb01").symlink_to(shared_data / "chbmit_clips" / "chb01")
    recipe = RealDetectorRecipe(
        output_dir=str(tmp_path / "run"),
        data={"data_dir": str(data), "eegmmidb": "absent", "bonn_ictal": None},
        optim={"max_steps": 2, "steps_per_epoch": 2, "batch_size": 2, "checkpoint_every": 0},
        evaluation={"folds": 2, "n_thresholds": 9},
    )
    evidence = train_detector_real(recipe, progress=False)
    assert len(evidence["operating_points"]) == 4
    det = Detector.from_checkpoint(evidence["model_dir"])
    assert det.preprocess_config.montage == "double_banana"
    meta = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert meta["input"]["channels"] == BANANA and meta["evidence"]["negative_recordings"] == 11
    card = write_model_card(tmp_path / "run" / "model", meta).read_text()
    assert "## Operating points" in card and "chb01" in card
    assert len(list((tmp_path / "run" / "folds").glob("*/oof.npz"))) == 2
    # resumable: a second call reuses the folds' out-of-fold files
    again = train_detector_real(recipe, progress=False)
    assert again["operating_points"] == evidence["operating_points"]
