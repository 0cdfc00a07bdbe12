"""SzCORE (timescoring) scores: every case and total of szcore_expected.json."""

from __future__ import annotations

import json
import math

import pytest

from eegssm.io.annotations import read_csv_bi
from eegssm.scoring import seizure_track, szcore


@pytest.fixture(scope="module")
def results(scoring_cases):
    d = scoring_cases
    out = {}
    for r, h in zip((d / "ref.list").read_text().split(), (d / "hyp.list").read_text().split()):
        fr, fh = read_csv_bi(d / r), read_csv_bi(d / h)
        ref = seizure_track(fr.events, fr.duration, fr.bname)
        out[fr.bname] = szcore.score(ref, seizure_track(fh.events, fh.duration, fh.bname))
    expected = json.loads((d / "szcore_expected.json").read_text())
    return out, expected


def _same(got, exp, path=""):
    bad = []
    for k, v in exp.items():
        g = got[k]
        if isinstance(v, dict):
            bad += _same(g, v, f"{path}.{k}")
        elif v is None or g is None:
            if v != g:
                bad.append(f"{path}.{k}: {g} != {v}")
        elif not math.isclose(g, v, rel_tol=1e-9, abs_tol=1e-12):
            bad.append(f"{path}.{k}: {g} != {v}")
    return bad


@pytest.mark.parametrize("case", [f"case_{i:03d}" for i in range(40)])
def test_cases_match_timescoring(results, case):
    got, exp = results
    assert _same(got[case].as_dict(), exp["cases"][case]) == []


def test_total_matches(results):
    got, exp = results
    assert _same(szcore.total(list(got.values())).as_dict(), exp["total"]) == []
