"""Threshold-free metrics, the incremental OVERLAP sweep, operating points and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eegssm.scoring import overlap
from eegssm.scoring.metrics import (
    auroc,
    ece,
    overlap_sweep,
    postprocessed_sweep,
    pr_auc,
    threshold_track,
)
from eegssm.scoring.operating_points import choose_operating_points, evaluate_operating_points
from eegssm.scoring.segments import SeizureTrack, merge_intervals


def _recordings(seed, n=12, fs=4.0):
    rng = np.random.default_rng(seed)
    out = []
    for r in range(n):
        t = int(rng.integers(40, 300))
        dur = t / fs
        p = np.round(rng.random(t), 2)  # ties between samples and thresholds
        iv = np.sort(rng.uniform(0, dur, size=(int(rng.integers(0, 5)), 2)), axis=1)
        if r % 2:
            iv = np.round(iv * fs) / fs  # boundaries on sample edges
        out.append((p, SeizureTrack(merge_intervals(iv), dur)))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_sweep_equals_per_threshold_recomputation(seed):
    fs = 4.0
    recs = _recordings(seed, fs=fs)
    th = np.unique(np.concatenate([np.linspace(0, 1, 41), [0.0, 0.5, 1.0]]))
    curve = overlap_sweep(recs, fs, th)
    for k, t in enumerate(curve.thresholds):
        hits = fas = 0
        for p, ref in recs:
            c = overlap.score(ref, threshold_track(p, fs, t, ref.duration))
            hits += c.hits
            fas += c.false_alarms
        assert (curve.hits[k], curve.false_alarms[k]) == (hits, fas), t
    assert curve.targets == sum(len(r) for _, r in recs)


def test_postprocessed_sweep_without_steps_equals_raw_sweep():
    from eegssm.postprocess import PostprocessConfig

    fs = 4.0
    recs = _recordings(7, n=4, fs=fs)
    cfg = PostprocessConfig(
        on_threshold=1.0,
        off_threshold=1.0,
        opening_s=0,
        closing_s=0,
        merge_gap_s=0,
        min_duration_s=0,
        max_duration_s=np.inf,
    )
    th = np.linspace(0.05, 1, 20)
    a, b = overlap_sweep(recs, fs, th), postprocessed_sweep(recs, fs, th, cfg)
    np.testing.assert_array_equal(a.hits, b.hits)
    np.testing.assert_array_equal(a.false_alarms, b.false_alarms)


def test_auroc_prauc_ece():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8])
    assert auroc(y, p) == pytest.approx(0.75)
    assert pr_auc(y, p) == pytest.approx((1.0 + 2 / 3) / 2)
    assert np.isnan(auroc(np.ones(3), np.ones(3)))
    # ECE by hand: bins (0,.1], (.3,.4] holds .35 and .4, (.7,.8]
    want = (abs(0 - 0.1) + abs(1 - 0.35 + 0 - 0.4) + abs(1 - 0.8)) / 4
    assert ece(y, p) == pytest.approx(want)
    assert ece(np.array([1, 0]), np.array([1.0, 0.0])) == 0.0


def test_operating_points_chosen_on_dev_applied_to_eval():
    fs = 4.0
    dev, ev = _recordings(1, fs=fs), _recordings(2, fs=fs)
    curve = overlap_sweep(dev, fs)
    points = choose_operating_points(curve, (1000.0, 100.0), split="dev")
    for pt in points:
        assert pt.chosen_on == "dev"
        if pt.feasible:
            assert pt.fa_per_24h <= pt.target_fa_per_24h
            ok = curve.fa_per_24h <= pt.target_fa_per_24h
            assert pt.sensitivity == pytest.approx(curve.sensitivity[ok].max())
    results = evaluate_operating_points(points, ev, fs, split="eval")
    assert [r.point.threshold for r in results] == [p.threshold for p in points]
    assert all(r.evaluated_on == "eval" and r.point.chosen_on == "dev" for r in results)
    with pytest.raises(ValueError, match="chosen on split"):
        evaluate_operating_points(points, dev, fs, split="dev")


def test_score_command(scoring_cases, tmp_path, capsys):
    import argparse

    from eegssm.commands import score

    d = scoring_cases
    parser = argparse.ArgumentParser(prog="eegssm")
    score.register(parser.add_subparsers())
    out = tmp_path / "res.json"
    args = parser.parse_args(
        ["score", str(d / "ref.list"), str(d / "hyp.list"), "--json", str(out)]
    )
    assert args.func(args) == 0
    assert "OVERLAP SCORING SUMMARY" in capsys.readouterr().out
    got = json.loads(out.read_text())
    exp = json.loads((d / "nedc_expected.json").read_text())
    assert set(got["total"]) == {"OVERLAP", "TAES", "EPOCH", "DPALIGN", "SZCORE"}
    assert got["total"]["OVERLAP"] == exp["total"]["OVERLAP"]
    assert list(got["cases"]) == list(exp["cases"])
    args = parser.parse_args(["score", str(d / "ref"), str(d / "hyp" / "case_001.csv_bi")])
    assert args.func(args) == 2
    assert "paired by position" in capsys.readouterr().err
    args = parser.parse_args(
        ["score", str(d / "ref" / "case_002.csv_bi"), str(d / "hyp" / "case_001.csv_bi")]
    )
    assert args.func(args) == 2
    assert "same order" in capsys.readouterr().err
