"""Threshold-free metrics on per-sample seizure probabilities, and the sensitivity-vs-FA sweep.

* :func:`auroc`, :func:`pr_auc` (scikit-learn's ROC AUC and average precision) and :func:`ece`
  (expected calibration error, equal-width bins) on per-sample labels and probabilities.
* :func:`overlap_sweep`: OVERLAP sensitivity and false alarms per 24 h for *every* threshold of a
  plain ``p >= threshold`` detector at once. Event counts are computed incrementally from sorted
  per-sample quantities instead of re-detecting per threshold:

  - a reference seizure is hit at ``θ`` iff the maximum probability over the samples it touches
    is ``>= θ``;
  - the number of detected events at ``θ`` is the number of samples with ``p[i-1] < θ <= p[i]``;
  - an event overlapping a reference contains a reference-touching sample; it is counted once,
    at its first such sample ``i``, which holds iff ``min(p[j..i]) < θ <= p[i]`` for the previous
    reference-touching sample ``j``;
  - false alarms = detected events − events touching a reference.

  Each count is a number of intervals ``(lo, hi]`` containing ``θ``: sort once, then two binary
  searches per threshold. Cost O(T log T + n_thresholds · log T) per recording.
* :func:`postprocessed_sweep`: the same curve with the full post-processing (hysteresis,
  morphology, merging, durations) at each threshold. These steps are not monotone in the
  threshold, so it re-runs :func:`eegssm.postprocess.postprocess_runs` per threshold: cost
  O(n_thresholds · T) (about 0.3 s per threshold for 24 h at 256 Hz).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eegssm.scoring import overlap
from eegssm.scoring.counting import SECONDS_PER_DAY
from eegssm.scoring.segments import SeizureTrack


def _check_binary(y_true: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).ravel().astype(bool)
    p = np.asarray(probs, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and probabilities {p.shape} differ in length")
    return y, p


def auroc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Area under the ROC curve of per-sample probabilities (``nan`` if one class is absent).

    Args:
        y_true: ``(T,)`` bool/0-1 seizure labels.
        probs: ``(T,)`` seizure probabilities.
    """
    from sklearn.metrics import roc_auc_score

    y, p = _check_binary(y_true, probs)
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, p))


def pr_auc(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Area under the precision-recall curve (scikit-learn average precision); ``nan`` without
    positives."""
    from sklearn.metrics import average_precision_score

    y, p = _check_binary(y_true, probs)
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, p))


def ece(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error: ``sum_b (n_b / N) · |mean(y)_b − mean(p)_b|``.

    Bins are equal-width on [0, 1], right-closed except the first (``p = 0`` falls in bin 0).
    """
    y, p = _check_binary(y_true, probs)
    if p.size == 0:
        return float("nan")
    b = np.clip(np.ceil(p * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    sum_p = np.bincount(b, weights=p, minlength=n_bins)
    sum_y = np.bincount(b, weights=y.astype(np.float64), minlength=n_bins)
    return float(np.abs(sum_y - sum_p).sum() / p.size)


@dataclass(frozen=True)
class SweepCurve:
    """OVERLAP counts of a threshold sweep, summed over recordings.

    Attributes:
        thresholds: ``(K,)`` increasing thresholds (detector: ``p >= threshold``).
        hits: ``(K,)`` detected reference seizures.
        false_alarms: ``(K,)`` detected events overlapping no reference seizure.
        targets: reference seizures.
        duration_s: summed recording duration in seconds.
    """

    thresholds: np.ndarray
    hits: np.ndarray
    false_alarms: np.ndarray
    targets: int
    duration_s: float

    @property
    def sensitivity(self) -> np.ndarray:
        """``(K,)`` hits / targets (0 without targets)."""
        return self.hits / self.targets if self.targets else np.zeros(self.hits.shape)

    @property
    def fa_per_24h(self) -> np.ndarray:
        """``(K,)`` false alarms per 24 h."""
        return self.false_alarms / self.duration_s * SECONDS_PER_DAY


def default_thresholds(n: int = 1001) -> np.ndarray:
    """``n`` evenly spaced thresholds on [0, 1]."""
    return np.linspace(0.0, 1.0, n)


def _count_in(lo: np.ndarray, hi: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each θ, how many intervals ``(lo, hi]`` (``lo <= hi``) contain it."""
    return np.searchsorted(np.sort(lo), thresholds, side="left") - np.searchsorted(
        np.sort(hi), thresholds, side="left"
    )


def ref_sample_ranges(track: SeizureTrack, sfreq: float, n: int) -> np.ndarray:
    """Sample ranges ``[lo, hi)`` touched by each reference seizure, int64 ``(K, 2)``.

    Sample ``i`` spans ``[i/sfreq, (i+1)/sfreq)``; it touches ``[start, stop]`` when the spans
    overlap strictly, which is when a detection containing it overlaps the seizure (OVERLAP).
    """
    lo = np.floor(track.starts * sfreq).astype(np.int64)
    hi = np.ceil(track.stops * sfreq).astype(np.int64)
    return np.stack([np.clip(lo, 0, n), np.clip(hi, 0, n)], axis=1)


def _recording_counts(
    probs: np.ndarray, ref: SeizureTrack, sfreq: float, thresholds: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64).ravel()
    n = p.size
    neg_inf = -np.inf
    prev = np.concatenate(([neg_inf], p[:-1]))
    n_events = _count_in(np.minimum(prev, p), p, thresholds)
    ranges = ref_sample_ranges(ref, sfreq, n)
    ranges = ranges[ranges[:, 1] > ranges[:, 0]]
    hits = np.zeros(thresholds.shape, dtype=np.int64)
    n_ref_events = np.zeros(thresholds.shape, dtype=np.int64)
    if ranges.shape[0]:
        bounds = ranges.ravel()
        pad = np.append(p, neg_inf)
        ref_max = np.maximum.reduceat(pad, bounds)[0::2]
        hits = np.searchsorted(np.sort(ref_max), thresholds, side="left")
        hits = ranges.shape[0] - hits
        # Reference-touching samples, sorted, with the previous such sample for each.
        diff = np.zeros(n + 1, dtype=np.int32)
        np.add.at(diff, ranges[:, 0], 1)
        np.add.at(diff, ranges[:, 1], -1)
        idx = np.flatnonzero(np.cumsum(diff[:-1]) > 0)
        # lo_i = min(p[j..i]) with j the previous reference-touching sample (-inf for the
        # first): below it, sample i joins the component of j.
        lo = np.full(idx.size, neg_inf)
        if idx.size > 1:
            b = np.stack([idx[:-1], idx[1:] + 1], axis=1).ravel()
            lo[1:] = np.minimum.reduceat(np.append(p, np.inf), b)[0::2]
        n_ref_events = _count_in(np.minimum(lo, p[idx]), p[idx], thresholds)
    return hits, n_events - n_ref_events


def overlap_sweep(
    recordings: Sequence[tuple[np.ndarray, SeizureTrack]],
    sfreq: float,
    thresholds: np.ndarray | None = None,
) -> SweepCurve:
    """OVERLAP sensitivity / FA-per-24 h curve of the detector ``p >= θ`` for many ``θ``.

    A detection is a run of samples ``[a, b)`` with ``p >= θ``, i.e. ``[a/sfreq, b/sfreq]`` s; no
    post-processing (see :func:`postprocessed_sweep`).

    Args:
        recordings: ``(probs (T,), ref SeizureTrack)`` per recording, probabilities at ``sfreq``.
        sfreq: sampling rate of the probabilities in Hz.
        thresholds: ``(K,)`` thresholds (default: 1001 on [0, 1]); sorted on output.
    """
    th = np.sort(np.asarray(default_thresholds() if thresholds is None else thresholds, float))
    hits = np.zeros(th.shape, dtype=np.int64)
    fas = np.zeros(th.shape, dtype=np.int64)
    targets, dur = 0, 0.0
    for probs, ref in recordings:
        h, f = _recording_counts(probs, ref, sfreq, th)
        hits += h
        fas += f
        targets += len(ref)
        dur += ref.duration
    return SweepCurve(th, hits, fas, targets, dur)


def threshold_track(probs: np.ndarray, sfreq: float, threshold: float, duration: float):
    """Detections ``p >= threshold`` of one trace as a :class:`SeizureTrack` (reference
    implementation of one point of :func:`overlap_sweep`)."""
    from eegssm.postprocess import runs

    s, e = runs(np.asarray(probs) >= threshold)
    return SeizureTrack(np.stack([s, e], axis=1) / sfreq, duration)


def postprocessed_sweep(
    recordings: Sequence[tuple[np.ndarray, SeizureTrack]],
    sfreq: float,
    thresholds: np.ndarray,
    config=None,
) -> SweepCurve:
    """OVERLAP curve with full post-processing, one :func:`~eegssm.postprocess.postprocess_runs` per
    threshold: the on-threshold is ``θ`` and the off-threshold keeps the configured gap below
    it (clipped at 0). Cost O(n_thresholds · T).
    """
    from dataclasses import replace

    from eegssm.postprocess import PostprocessConfig, postprocess_runs

    cfg = config or PostprocessConfig()
    gap = cfg.on_threshold - cfg.off_threshold
    th = np.sort(np.asarray(thresholds, dtype=float))
    hits = np.zeros(th.shape, dtype=np.int64)
    fas = np.zeros(th.shape, dtype=np.int64)
    targets, dur = 0, 0.0
    for probs, ref in recordings:
        targets += len(ref)
        dur += ref.duration
        for k, t in enumerate(th):
            c = replace(cfg, on_threshold=float(t), off_threshold=float(max(t - gap, 0.0)))
            s, e, _ = postprocess_runs(probs, sfreq, c)
            hyp = SeizureTrack(np.stack([s, e], axis=1) / sfreq, ref.duration)
            counts = overlap.score(ref, hyp)
            hits[k] += int(counts.hits)
            fas[k] += int(counts.false_alarms)
    return SweepCurve(th, hits, fas, targets, dur)
