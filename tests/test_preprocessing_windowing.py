"""Windowing: counts, padding and mask, labels at window borders, window classes."""

from __future__ import annotations

import numpy as np
import pytest

from eegssm.io.types import Event, Recording
from eegssm.preprocessing.windowing import (
    WindowClass,
    make_windows,
    n_windows,
    sample_labels,
    window_classes,
)

FS = 100.0


def _rec(n_times, events=(), n_channels=2):
    data = np.arange(n_channels * n_times, dtype=np.float32).reshape(n_channels, n_times) + 1
    return Recording(data, FS, [f"c{i}" for i in range(n_channels)], list(events))


def test_shorter_than_one_window_gives_one_padded_window():
    rec = _rec(30)
    w = make_windows(rec, window_s=1.0)
    assert w.x.shape == (1, 2, 100) and w.y.shape == (1, 100) and w.mask.shape == (1, 100)
    assert w.x.dtype == np.float32 and w.y.dtype == np.uint8 and w.mask.dtype == bool
    np.testing.assert_array_equal(w.x[0, :, :30], rec.data)
    assert not w.x[0, :, 30:].any()
    assert w.mask[0].sum() == 30 and w.mask[0, :30].all()


def test_exact_multiple_has_no_padding():
    rec = _rec(300)
    w = make_windows(rec, window_s=1.0)
    assert len(w) == 3 and w.mask.all()
    np.testing.assert_array_equal(np.concatenate(list(w.x), axis=1), rec.data)
    np.testing.assert_array_equal(w.starts, [0, 100, 200])
    np.testing.assert_array_equal(w.start_times, [0.0, 1.0, 2.0])


def test_partial_last_window_is_padded_and_masked():
    rec = _rec(250)
    w = make_windows(rec, window_s=1.0)
    assert len(w) == 3
    assert w.mask[:2].all() and w.mask[2].sum() == 50
    np.testing.assert_array_equal(w.x[2, :, :50], rec.data[:, 200:])
    assert not w.x[2, :, 50:].any()


def test_overlapping_stride_matches_slices():
    rec = _rec(1000, n_channels=3)
    w = make_windows(rec, window_s=2.56, stride_s=1.0)
    assert len(w) == n_windows(1000, 256, 100) == 9
    for i in range(8):
        np.testing.assert_array_equal(w.x[i], rec.data[:, i * 100 : i * 100 + 256])
    np.testing.assert_array_equal(w.x[8, :, :200], rec.data[:, 800:])  # last reaches the end
    assert w.mask[8].sum() == 200


def test_labels_at_window_borders():
    events = [Event(1.0, 2.0, "seiz"), Event(2.5, 3.5, "fnsz"), Event(0.0, 5.0, "bckg")]
    w = make_windows(_rec(400, events), window_s=1.0)
    assert w.y[0].sum() == 0  # sample 99 (0.99 s) is before the onset at 1.0 s
    assert w.y[1].all()  # [1.0, 2.0) is exactly window 1
    np.testing.assert_array_equal(w.y[2], np.r_[np.zeros(50), np.ones(50)])
    np.testing.assert_array_equal(w.y[3], np.r_[np.ones(50), np.zeros(50)])
    np.testing.assert_array_equal(
        window_classes(w.y, w.mask),
        [WindowClass.NONE, WindowClass.FULL, WindowClass.PARTIAL, WindowClass.PARTIAL],
    )


def test_label_set_and_predicate():
    events = [Event(0.0, 1.0, "fnsz"), Event(1.0, 2.0, "artf")]
    rec = _rec(200, events)
    assert make_windows(rec, 1.0).y.sum(axis=1).tolist() == [100, 0]
    assert make_windows(rec, 1.0, labels={"ARTF"}).y.sum(axis=1).tolist() == [0, 100]
    w = make_windows(rec, 1.0, is_seizure=lambda e: True, labels={"none"})
    assert w.y.all()


def test_events_are_clipped_to_the_recording():
    labels = sample_labels([Event(-1.0, 0.2), Event(1.9, 9.0)], 200, FS)
    assert labels.sum() == 20 + 10 and labels[:20].all() and labels[190:].all()


def test_full_class_ignores_padding():
    w = make_windows(_rec(150, [Event(1.0, 1.5)]), window_s=1.0)
    assert w.classes.tolist() == [WindowClass.NONE, WindowClass.FULL]
    y = np.zeros((1, 10), np.uint8)
    assert window_classes(y, np.zeros((1, 10), bool)).tolist() == [WindowClass.NONE]


def test_views_without_copy_are_read_only_and_equal():
    rec = _rec(1000, [Event(2.0, 4.0)])
    a = make_windows(rec, 2.0, 0.5)
    b = make_windows(rec, 2.0, 0.5, copy=False)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.x.flags.c_contiguous and not b.x.flags.writeable


def test_bad_window_arguments():
    with pytest.raises(ValueError):
        n_windows(100, 0, 10)


def test_preprocess_windows_seizure_preset_shapes():
    from eegssm.data.synthetic import make_recording
    from eegssm.preprocessing.pipeline import preprocess_windows

    rec = make_recording(125, sfreq=500.0, n_seizures=1, seed=0, seizure_duration_s=(20, 20))
    timings: dict[str, float] = {}
    w = preprocess_windows(rec, "seizure", timings)
    assert w.sfreq == 256.0 and w.x.shape == (8, 19, 60 * 256)  # 1 + ceil((125 - 60) / 10)
    assert w.mask[-1].sum() == 55 * 256 and w.mask[:-1].all()
    (ev,) = rec.events
    a, b = round(ev.start * 256), round(ev.stop * 256)
    for i, start in enumerate(w.starts):
        overlap = max(0, min(b, start + 60 * 256) - max(a, start))
        assert w.y[i].sum() == overlap
    assert (w.classes != WindowClass.NONE).any() and "window" in timings
    assert np.abs(w.x).max() <= 10.0
