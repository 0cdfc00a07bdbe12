"""NEDC-compatible scoring: every case and total of nedc_expected.json, plus hand-made cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eegssm.io.annotations import read_csv_bi
from eegssm.io.types import Event
from eegssm.scoring import dpalign, epoch, overlap, score_pairs, seizure_track, taes
from eegssm.scoring.segments import SeizureTrack, check_pair, label_sequence

METHODS = ("OVERLAP", "TAES", "EPOCH", "DPALIGN")


def _tol(value) -> float:
    """Half the last printed digit of a JSON number."""
    text = repr(value)
    return 0.5 * 10.0 ** -(len(text.split(".")[1]) if "." in text else 0)


@pytest.fixture(scope="module")
def cases_dir(scoring_cases):
    return scoring_cases


@pytest.fixture(scope="module")
def expected(cases_dir):
    return json.loads((cases_dir / "nedc_expected.json").read_text())


@pytest.fixture(scope="module")
def report(cases_dir):
    refs = (cases_dir / "ref.list").read_text().split()
    hyps = (cases_dir / "hyp.list").read_text().split()
    pairs = []
    for r, h in zip(refs, hyps):
        fr, fh = read_csv_bi(cases_dir / r), read_csv_bi(cases_dir / h)
        pairs.append(
            (
                seizure_track(fr.events, fr.duration, fr.bname),
                seizure_track(fh.events, fh.duration, fh.bname),
            )
        )
    return score_pairs(pairs, ["all"]).to_json()


def _compare(got: dict, exp: dict) -> list[str]:
    return [f"{k}: got {got[k]} expected {v}" for k, v in exp.items() if abs(got[k] - v) > _tol(v)]


@pytest.mark.parametrize("method", METHODS)
def test_totals_match_nedc(report, expected, method):
    assert _compare(report["total"][method], expected["total"][method]) == []


@pytest.mark.parametrize("case", [f"case_{i:03d}" for i in range(40)])
def test_cases_match_nedc(report, expected, case):
    bad = {m: _compare(report["cases"][case][m], expected["cases"][case][m]) for m in METHODS}
    assert {m: b for m, b in bad.items() if b} == {}


def _track(intervals, duration, name="x"):
    return seizure_track([Event(a, b) for a, b in intervals], duration, name)


def test_touching_events_merge_and_bckg_rows_optional():
    with_bckg = [Event(0, 100, "bckg"), Event(100, 130), Event(130, 160), Event(160, 600, "bckg")]
    tr = seizure_track(with_bckg, 600.0)
    np.testing.assert_array_equal(tr.intervals, [[100.0, 160.0]])
    assert label_sequence(tr).tolist() == [False, True, False]
    assert label_sequence(_track([(0, 10), (590, 600)], 600)).tolist() == [True, False, True]


def test_overlap_strict_touching_is_not_a_hit():
    ref = _track([(100, 150)], 600)
    c = overlap.score(ref, _track([(150, 200)], 600))
    assert (c.hits, c.false_alarms) == (0, 1)
    c = overlap.score(ref, _track([(149.9999, 200)], 600))
    assert (c.hits, c.false_alarms) == (1, 0)


def test_taes_long_hyp_credits_first_ref_only():
    c = taes.score(_track([(100, 130), (160, 200), (240, 260)], 900), _track([(90, 280)], 900))
    assert (c.targets, c.hits, c.misses, c.false_alarms) == (3, 1.0, 2.0, 1.0)


def test_taes_fractions_inside_ref():
    c = taes.score(_track([(200, 400)], 900), _track([(210, 230), (300, 390)], 900))
    assert c.hits == pytest.approx(0.55) and c.misses == pytest.approx(0.45)
    assert c.false_alarms == 0


def test_epoch_boundary_takes_earlier_label():
    # Epoch centre 10.125 is a ref start: it belongs to the background before it.
    c = epoch.score(_track([(10.125, 10.375)], 20), _track([(10.125, 10.375)], 20))
    assert (c.targets, c.hits) == (1, 1)  # only 10.375 is inside
    assert c.fa_per_24h == 0.0


def test_dpalign_ignores_timing():
    c = dpalign.score(_track([(100, 130), (300, 330)], 900), _track([(150, 170), (350, 370)], 900))
    assert (c.targets, c.hits, c.false_alarms) == (2, 2, 0)
    c = dpalign.score(_track([], 900), _track([(1, 2), (5, 6)], 900))
    assert (c.targets, c.hits, c.false_alarms) == (0, 0, 2)


def test_duration_mismatch_is_an_error():
    with pytest.raises(ValueError, match="duration mismatch"):
        check_pair(_track([], 600, "a"), _track([], 601, "a"))
    with pytest.raises(ValueError, match="duration mismatch"):
        score_pairs([(_track([], 600, "a"), _track([], 600.5, "a"))], ["overlap"])


def test_seizure_types_collapse_to_one_class():
    tr = seizure_track([Event(1, 2, "fnsz"), Event(2, 3, "gnsz"), Event(5, 6, "artf")], 10)
    assert isinstance(tr, SeizureTrack)
    np.testing.assert_array_equal(tr.intervals, [[1.0, 3.0]])
