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

:func:`stitch_windows` turns overlapping window predictions into one trace (overlap-add average).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from eegssm.io.types import TERM, Event


@dataclass(frozen=True)
class PostprocessConfig:
    """Post-processing parameters (seconds, probabilities in [0, 1]).

    Attributes:
        on_threshold: probability at which an event may start.
        off_threshold: an event continues while the probability stays at or above this.
        min_onset_s: ``p >= on_threshold`` must hold this long to start an event (0: one sample).
        min_offset_s: ``p < off_threshold`` must hold this long to end an event (0: one sample).
        opening_s: morphological opening length (0 disables); detections shorter vanish.
        closing_s: morphological closing length (0 disables); gaps shorter are filled.
        merge_gap_s: events separated by at most this gap are merged.
        min_duration_s: events shorter than this are dropped.
        max_duration_s: events longer than this are split into equal pieces (``inf`` disables).
        confidence: ``"mean"`` or ``"max"`` probability over the event.
        label: label of the output events.
    """

    on_threshold: float = 0.86
    off_threshold: float = 0.78
    min_onset_s: float = 0.0
    min_offset_s: float = 0.0
    opening_s: float = 1.0
    closing_s: float = 1.0
    merge_gap_s: float = 2.0
    min_duration_s: float = 3.0
    max_duration_s: float = 600.0
    confidence: Literal["mean", "max"] = "mean"
    label: str = "seiz"

    def __post_init__(self) -> None:
        if not 0.0 <= self.off_threshold <= self.on_threshold <= 1.0:
            raise ValueError(
                "need 0 <= off_threshold <= on_threshold <= 1, got "
                f"off={self.off_threshold}, on={self.on_threshold}"
            )
        if self.confidence not in ("mean", "max"):
            raise ValueError(f"confidence must be 'mean' or 'max', got {self.confidence!r}")
        if not self.max_duration_s > 0:
            raise ValueError(f"max_duration_s must be positive, got {self.max_duration_s}")


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) sample indices of the ``True`` runs of a 1-D mask.

    Returns:
        int64 ``(K,)`` starts and ``(K,)`` stops.
    """
    m = np.asarray(mask, dtype=bool).view(np.int8)
    edges = np.flatnonzero(np.diff(m, prepend=0, append=0))
    return edges[0::2].astype(np.int64), edges[1::2].astype(np.int64)


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


def detect(
    probs: np.ndarray, sfreq: float, config: PostprocessConfig | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of a probability trace, as arrays.

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
    s, e, conf = detect(probs, sfreq, cfg)
    return [
        Event(float(a) / sfreq, float(b) / sfreq, cfg.label, TERM, float(c))
        for a, b, c in zip(s, e, conf)
    ]


class OverlapAdd:
    """Running overlap-add average of window predictions, fed one batch at a time.

    Memory is two arrays of the recording's length (float32 sums, uint16 counts: 6 bytes per
    sample) whatever the number of windows: a 24-hour trace at 256 Hz needs about 130 MB, and
    :meth:`result` adds the float32 output (88 MB) without other full-length temporaries.
    Sums of at most 65,535 probabilities in float32 are exact to ~1e-7 relative.

    Args:
        total_len: length ``T`` of the recording in samples.
    """

    def __init__(self, total_len: int) -> None:
        self.total_len = int(total_len)
        self.sums = np.zeros(self.total_len, dtype=np.float32)
        self.counts = np.zeros(self.total_len, dtype=np.uint16)

    def add(self, probs: np.ndarray, starts: np.ndarray) -> None:
        """Add ``probs (N, W)`` of windows starting at ``starts (N,)`` samples; parts outside
        ``[0, T)`` are ignored."""
        probs = np.asarray(probs)
        if probs.ndim != 2:
            raise ValueError(f"probs must be (N, W), got shape {probs.shape}")
        n, w = probs.shape
        starts = np.asarray(starts, dtype=np.int64).ravel()
        if starts.size != n:
            raise ValueError(f"{starts.size} window starts for {n} windows")
        if n == 0:
            return
        lo = max(0, int(starts.min()))
        hi = min(self.total_len, int(starts.max()) + w)
        if hi <= lo:
            return
        idx = starts[:, None] + np.arange(w, dtype=np.int64)[None, :]
        inside = (idx >= lo) & (idx < hi)
        sums = np.bincount(idx[inside] - lo, weights=probs[inside], minlength=hi - lo)
        counts = np.bincount(idx[inside] - lo, minlength=hi - lo)
        if int(self.counts[lo:hi].max()) + int(counts.max()) > np.iinfo(np.uint16).max:
            raise ValueError("more than 65,535 windows overlap one sample; use a longer stride")
        self.sums[lo:hi] += sums.astype(np.float32)
        self.counts[lo:hi] += counts.astype(np.uint16)

    def result(self, fill_value: float = 0.0, chunk: int = 1 << 20) -> np.ndarray:
        """float32 ``(T,)``: the mean of the windows covering each sample (``fill_value`` where
        none does)."""
        out = np.empty(self.total_len, dtype=np.float32)
        for a in range(0, self.total_len, chunk):
            sums, counts = self.sums[a : a + chunk], self.counts[a : a + chunk]
            np.divide(sums, counts, out=out[a : a + chunk], where=counts > 0)
            out[a : a + chunk][counts == 0] = fill_value
        return out


def stitch_windows(
    probs: np.ndarray, starts: np.ndarray, total_len: int, fill_value: float = 0.0
) -> np.ndarray:
    """Average overlapping window predictions into one trace (overlap-add with counts).

    Args:
        probs: ``(N, W)`` per-sample predictions of ``N`` windows of ``W`` samples.
        starts: ``(N,)`` first sample of each window in the recording.
        total_len: length ``T`` of the recording in samples; window parts outside ``[0, T)``
            are ignored.
        fill_value: value of samples no window covers.

    Returns:
        float32 ``(T,)``: at each sample, the mean of the windows covering it.
    """
    acc = OverlapAdd(total_len)
    acc.add(probs, starts)
    return acc.result(fill_value)
