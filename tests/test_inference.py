"""Whole-recording inference: window placement and stitching against direct formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eegssm.inference import OverlapAdd, predict_recording, stitch_windows, window_starts


@pytest.mark.parametrize(
    "n,w,s",
    [(10, 4, 2), (11, 4, 2), (4, 4, 1), (3, 4, 2), (100, 10, 10), (101, 10, 7), (1, 5, 5)],
)
def test_window_starts_cover_everything(n, w, s):
    starts = window_starts(n, w, s)
    covered = np.zeros(max(n, w), bool)
    for st in starts:
        covered[st : st + w] = True
    assert covered[:n].all()
    assert starts[0] == 0 and (np.diff(starts) > 0).all()
    assert starts[-1] + w <= max(n, w)
    assert (np.diff(starts)[:-1] == s).all()


def test_pointwise_model_gives_exact_trace():
    """A model whose logit at a sample is channel 0 there: any windowing must return
    sigmoid(channel 0) exactly, including at the edges and for the short last window."""
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, 1003)).astype(np.float32)
    for window, stride in [(100, 100), (100, 30), (250, 250), (2000, 100)]:
        probs = predict_recording(lambda x: x[:, 0, :], data, window, stride, batch_size=4)
        np.testing.assert_allclose(probs, 1 / (1 + np.exp(-data[0])), rtol=1e-6, atol=1e-7)


def test_overlaps_are_averaged():
    """A model that outputs each window's start index: the trace is the mean start of the
    windows covering each sample (direct computation)."""
    data = np.zeros((1, 50), np.float32)
    data[0] = np.arange(50)
    window, stride = 20, 5

    def model(x):
        first = x[:, 0, :1]  # value of the first sample = window start
        return torch.logit(torch.sigmoid(first).expand(-1, x.shape[-1]))

    probs = predict_recording(model, data, window, stride)
    starts = window_starts(50, window, stride)
    expected = np.zeros(50)
    for t in range(50):
        covering = [s for s in starts if s <= t < s + window]
        expected[t] = np.mean([1 / (1 + np.exp(-s)) for s in covering])
    np.testing.assert_allclose(probs, expected, rtol=1e-5)


def test_overlap_add_in_batches_equals_stitch():
    rng = np.random.default_rng(1)
    probs = rng.random((13, 40))
    starts = rng.integers(-10, 200, size=13)
    acc = OverlapAdd(210)
    for i in range(0, 13, 4):
        acc.add(probs[i : i + 4], starts[i : i + 4])
    # float32 sums: equal to round-off
    np.testing.assert_allclose(
        acc.result(-1.0), stitch_windows(probs, starts, 210, -1.0), rtol=1e-6
    )


def test_bad_input():
    with pytest.raises(ValueError, match="C, T"):
        predict_recording(lambda x: x[:, 0], np.zeros(10), 4, 2)
    with pytest.raises(ValueError, match=">= 1"):
        window_starts(10, 0, 1)
    assert predict_recording(lambda x: x[:, 0], np.zeros((2, 0)), 4, 2).shape == (0,)


def test_stitch_equals_direct_average():
    rng = np.random.default_rng(0)
    n, w, total = 7, 50, 260
    probs = rng.random((n, w))
    starts = np.array([-10, 0, 25, 40, 100, 200, 230])
    got = stitch_windows(probs, starts, total, fill_value=-1.0)
    for t in range(total):
        vals = [probs[i, t - s] for i, s in enumerate(starts) if 0 <= t - s < w]
        want = np.mean(vals) if vals else -1.0
        assert got[t] == pytest.approx(want, rel=1e-6)


def test_stitch_shape_errors():
    with pytest.raises(ValueError, match=r"\(N, W\)"):
        stitch_windows(np.zeros(5), np.zeros(1), 10)
    with pytest.raises(ValueError, match="window starts"):
        stitch_windows(np.zeros((2, 5)), np.zeros(3), 10)
