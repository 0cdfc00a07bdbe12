"""Post-processing: hysteresis, morphology, merging, durations, confidence."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from eegssm.postprocess import (
    PostprocessConfig,
    closing,
    hysteresis,
    mask_from_runs,
    opening,
    postprocess,
    postprocess_runs,
    runs,
)

FS = 10.0
NONE = PostprocessConfig(
    opening_s=0, closing_s=0, merge_gap_s=0, min_duration_s=0, max_duration_s=np.inf
)


def _trace(*segments):
    """Concatenate (value, seconds) pieces at FS."""
    return np.concatenate([np.full(int(round(s * FS)), v, dtype=np.float32) for v, s in segments])


def test_hysteresis_starts_at_on_and_continues_above_off():
    p = _trace((0.0, 1), (0.8, 1), (0.9, 1), (0.8, 2), (0.7, 1), (0.8, 1))
    s, e = hysteresis(p, 0.86, 0.78)
    assert (s.tolist(), e.tolist()) == ([20], [50])  # 0.8 before the trigger is not included


def test_hysteresis_edges_equal_thresholds_and_trace_ends():
    p = np.array([0.86, 0.78, 0.7, 0.78, 0.86], dtype=np.float32)
    s, e = hysteresis(p, 0.86, 0.78)
    assert (s.tolist(), e.tolist()) == ([0, 4], [2, 5])
    s, e = hysteresis(np.zeros(5), 0.86, 0.78)
    assert s.size == 0 and e.size == 0


def test_hysteresis_min_onset_and_offset():
    p = _trace((0.9, 0.2), (0.0, 1), (0.9, 1), (0.5, 0.2), (0.9, 1), (0.0, 1))
    s, e = hysteresis(p, 0.86, 0.78, min_onset=5)
    assert (s.tolist(), e.tolist()) == ([12, 24], [22, 34])
    s, e = hysteresis(p, 0.86, 0.78, min_onset=5, min_offset=3)
    assert (s.tolist(), e.tolist()) == ([12], [34])  # the 2-sample dip no longer ends it


@pytest.mark.parametrize("seed", range(5))
def test_opening_closing_match_scipy(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random(400) < 0.5
    mask = ndimage.binary_dilation(mask, iterations=int(rng.integers(0, 3)))
    s, e = runs(mask)
    for size in (3, 5, 9):
        st = np.ones(size, dtype=bool)
        got = mask_from_runs(*opening(s, e, size), mask.size)
        np.testing.assert_array_equal(got, ndimage.binary_opening(mask, st))
        h = size // 2  # scipy's closing also erodes from outside the ends: compare inside
        got = mask_from_runs(*closing(s, e, size), mask.size)
        ref = ndimage.binary_closing(np.pad(mask, size, mode="edge"), st)[size:-size]
        np.testing.assert_array_equal(got[h:-h], ref[h:-h])


def test_merge_gaps_and_min_duration():
    p = _trace((0, 1), (1, 2), (0, 2), (1, 2), (0, 3.5), (1, 2.9), (0, 1))
    cfg = PostprocessConfig(opening_s=0, closing_s=0, merge_gap_s=2.0, min_duration_s=3.0)
    ev = postprocess(p, FS, cfg)
    assert [(e.start, e.stop) for e in ev] == [(1.0, 7.0)]  # 2 s gap merged, 2.9 s dropped


def test_split_of_a_1500_s_event():
    p = _trace((0, 10), (1, 1500), (0, 10))
    ev = postprocess(p, FS, PostprocessConfig())
    assert [(e.start, e.stop) for e in ev] == [(10.0, 510.0), (510.0, 1010.0), (1010.0, 1510.0)]
    assert all(e.duration <= 600 for e in ev)


def test_confidence_mean_and_max():
    p = _trace((0, 1), (0.9, 2), (1.0, 2), (0, 1))
    (mean_ev,) = postprocess(p, FS, NONE)
    assert mean_ev.confidence == pytest.approx(0.95)
    (max_ev,) = postprocess(p, FS, PostprocessConfig(**{**NONE.__dict__, "confidence": "max"}))
    assert max_ev.confidence == pytest.approx(1.0)
    assert (mean_ev.start, mean_ev.stop, mean_ev.label) == (1.0, 5.0, "seiz")


def test_invalid_config():
    with pytest.raises(ValueError, match="off_threshold"):
        PostprocessConfig(on_threshold=0.5, off_threshold=0.6)


@pytest.mark.slow
def test_24h_trace_under_a_second():
    import time

    fs = 256
    rng = np.random.default_rng(0)
    p = np.repeat(rng.random(24 * 3600), fs).astype(np.float32)
    t = time.perf_counter()
    s, _, _ = postprocess_runs(p, fs)
    assert time.perf_counter() - t < 1.0
    assert s.size > 0


@pytest.mark.parametrize("n", [0, 1, 2, 3, 17, 1000])
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_runs_match_the_edges_of_the_padded_mask(n, p):
    """Run boundaries = positions where the mask, padded with False at both ends, changes."""
    m = np.random.default_rng(n).random(n) < p
    padded = np.concatenate([[False], m, [False]]).astype(int)
    edges = np.flatnonzero(np.diff(padded))
    starts, stops = runs(m)
    assert starts.dtype == stops.dtype == np.int64
    np.testing.assert_array_equal(starts, edges[0::2])
    np.testing.assert_array_equal(stops, edges[1::2])
