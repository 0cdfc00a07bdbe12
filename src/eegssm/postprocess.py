"""Clinical post-processing: per-sample seizure probabilities → seizure events.

Pipeline (all parameters in seconds, defaults from Brain-Go-Brr v4, which extends
SeizureTransformer's, Wu et al. 2025), vectorised over the trace:

1. hysteresis: an event starts where ``p >= on_threshold`` has held for ``min_onset_s`` and lasts
   while ``p >= off_threshold``; dips below ``off_threshold`` shorter than ``min_offset_s`` do not
   end it;
2. morphological opening (removes detections shorter than ``opening_s``) then closing (fills gaps
   shorter than ``closing_s``), equal to ``scipy.ndimage.binary_opening`` / ``binary_closing``
   with a flat structuring element of that length (odd samples) but computed on the run arrays;
3. merging of events separated by gaps ``<= merge_gap_s``;
4. removal of events shorter than ``min_duration_s``;
5. splitting of events longer than ``max_duration_s`` into equal pieces no longer than it;
6. confidence per event: mean or max probability over its samples.

:func:`postprocess` returns :class:`~eegssm.io.types.Event` objects in seconds,
:func:`postprocess_runs` the same events as sample-index arrays. (Stitching overlapping window
predictions into one trace is inference: :mod:`eegssm.inference`.) The parameters are a
:class:`PostprocessConfig` (defined in :mod:`eegssm.config.postprocess`).
"""

from __future__ import annotations

import numpy as np

from eegssm.config.postprocess import PostprocessConfig
from eegssm.io.types import TERM, Event


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) sample indices of the ``True`` runs of a 1-D mask.

    Returns:
        int64 ``(K,)`` starts and ``(K,)`` stops.
    """
    m = np.asarray(mask, dtype=bool).ravel()
    if m.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    # One bool temporary of the mask's length (np.diff with prepend/append would make two
    # int64 copies: 350 MB for a day at 256 Hz).
    edges = np.flatnonzero(m[1:] != m[:-1]).astype(np.int64) + 1
    edges = np.concatenate([[0] if m[0] else [], edges, [m.size] if m[-1] else []])
    edges = edges.astype(np.int64)
    return edges[0::2], edges[1::2]


def mask_from_runs(starts: np.ndarray, stops: np.ndarray, n: int) -> np.ndarray:
    """Bool ``(n,)`` mask that is ``True`` on the sorted, disjoint runs ``[start, stop)``."""
    diff = np.zeros(n + 1, dtype=np.int8)
    diff[starts] += 1  # runs are disjoint, so starts (and stops) are unique
    diff[stops] -= 1
    return np.cumsum(diff[:-1], dtype=np.int8) > 0


def odd_samples(seconds: float, sfreq: float) -> int:
    """Seconds → the nearest odd number of samples (>= 1), so a structure is centred."""
    k = int(round(seconds * sfreq))
    return k + 1 if k % 2 == 0 else k


def opening(starts: np.ndarray, stops: np.ndarray, size: int):
    """Morphological opening of a run set by a flat structure of ``size`` samples.

    In 1-D, ``scipy.ndimage.binary_opening`` with ``np.ones(size)`` (odd) removes exactly the
    runs shorter than ``size`` and keeps the others unchanged, so it is done on the run arrays
    (O(K) instead of O(T·size)); the tests check the equivalence against scipy.
    """
    keep = (stops - starts) >= size
    return starts[keep], stops[keep]


def closing(starts: np.ndarray, stops: np.ndarray, size: int):
    """Morphological closing of a run set by a flat structure of ``size`` samples.

    Fills the gaps between runs shorter than ``size``, which is what
    ``scipy.ndimage.binary_closing`` with ``np.ones(size)`` (odd) does away from the ends of the
    trace (scipy also erodes events touching the ends, which is not wanted here).
    """
    return merge_gaps(starts, stops, size - 1)


def merge_gaps(starts: np.ndarray, stops: np.ndarray, max_gap: int):
    """Merge runs (sorted, disjoint sample indices) whose gap is ``<= max_gap`` samples."""
    if starts.size == 0:
        return starts, stops
    new = np.concatenate(([True], (starts[1:] - stops[:-1]) > max_gap))
    first = np.flatnonzero(new)
    return starts[first], np.maximum.reduceat(stops, first)


def hysteresis(
    probs: np.ndarray, on: float, off: float, min_onset: int = 1, min_offset: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Two-threshold detection.

    An event starts at the first sample of a run of at least ``min_onset`` samples with
    ``p >= on`` and continues while ``p >= off``; runs of ``p < off`` shorter than ``min_offset``
    samples do not end it.

    Args:
        probs: ``(T,)`` probabilities.
        on, off: start and continuation thresholds (``off <= on``).
        min_onset, min_offset: run lengths in samples (1 = no constraint).

    Returns:
        int64 ``(K,)`` starts and stops (exclusive) of the events, in samples.
    """
    p = np.asarray(probs)
    ts, te = runs(p >= on)
    keep = (te - ts) >= min_onset
    ts = ts[keep]
    cs, ce = runs(p >= off)
    cs, ce = merge_gaps(cs, ce, min_offset - 1)
    if ts.size == 0 or cs.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    # First trigger inside each continuation run (every trigger lies inside one, as on >= off).
    j = np.searchsorted(ts, cs, side="left")
    ok = j < ts.size
    ok[ok] &= ts[j[ok]] < ce[ok]
    return ts[j[ok]], ce[ok]


def split_long(starts: np.ndarray, stops: np.ndarray, max_len: int):
    """Split runs longer than ``max_len`` samples into ``ceil(len/max_len)`` equal pieces."""
    lengths = stops - starts
    n = np.maximum(1, -(-lengths // max_len))
    if np.all(n == 1):
        return starts, stops
    ev = np.repeat(np.arange(starts.size), n)
    k = np.arange(ev.size) - np.repeat(np.cumsum(n) - n, n)
    s = starts[ev] + (lengths[ev] * k) // n[ev]
    e = starts[ev] + (lengths[ev] * (k + 1)) // n[ev]
    return s, e


def segment_reduce(p: np.ndarray, starts: np.ndarray, stops: np.ndarray, how: str) -> np.ndarray:
    """Mean or max of ``p`` over each non-empty ``[start, stop)``; cost ∝ samples inside.

    Returns:
        float64 ``(K,)``.
    """
    if starts.size == 0:
        return np.zeros(0)
    lengths = stops - starts
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    idx = np.arange(int(lengths.sum())) - np.repeat(offsets - starts, lengths)
    vals = p[idx].astype(np.float64)
    if how == "max":
        return np.maximum.reduceat(vals, offsets)
    return np.add.reduceat(vals, offsets) / lengths


def postprocess_runs(
    probs: np.ndarray, sfreq: float, config: PostprocessConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of a probability trace, as sample-index arrays (:func:`postprocess` in samples).

    Args:
        probs: ``(T,)`` seizure probabilities at ``sfreq``.
        sfreq: sampling rate in Hz.
        config: parameters (defaults: :class:`PostprocessConfig`).

    Returns:
        ``(starts, stops, confidence)``: int64 ``(K,)`` sample indices (stop exclusive) and
        float64 ``(K,)``.
    """
    cfg = config or PostprocessConfig()
    p = np.asarray(probs).ravel()
    s, e = hysteresis(
        p,
        cfg.on_threshold,
        cfg.off_threshold,
        max(1, int(round(cfg.min_onset_s * sfreq))),
        max(1, int(round(cfg.min_offset_s * sfreq))),
    )
    if cfg.opening_s > 0:
        s, e = opening(s, e, odd_samples(cfg.opening_s, sfreq))
    if cfg.closing_s > 0:
        s, e = closing(s, e, odd_samples(cfg.closing_s, sfreq))
    s, e = merge_gaps(s, e, int(round(cfg.merge_gap_s * sfreq)))
    keep = (e - s) >= int(round(cfg.min_duration_s * sfreq))
    s, e = s[keep], e[keep]
    if np.isfinite(cfg.max_duration_s):
        s, e = split_long(s, e, max(1, int(round(cfg.max_duration_s * sfreq))))
    return s, e, segment_reduce(p, s, e, cfg.confidence)


def postprocess(
    probs: np.ndarray, sfreq: float, config: PostprocessConfig | None = None
) -> list[Event]:
    """Seizure events (seconds) of a ``(T,)`` probability trace at ``sfreq`` Hz."""
    cfg = config or PostprocessConfig()
    s, e, conf = postprocess_runs(probs, sfreq, cfg)
    return [
        Event(float(a) / sfreq, float(b) / sfreq, cfg.label, TERM, float(c))
        for a, b, c in zip(s, e, conf)
    ]
