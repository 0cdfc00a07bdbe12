"""Scoring per-sample probability traces of labelled recordings.

What training (early stopping, operating points) and evaluation both do with a detector's
probability traces ``(T,)`` and the per-sample labels ``(T,)`` of the same recordings:

- :func:`track_from_labels`, :func:`events_from_labels`: the reference seizures of the labels;
- :func:`score_probabilities`: sample AUROC / PR-AUC and the post-processed OVERLAP sweep
  (:func:`eegssm.scoring.metrics.postprocessed_sweep`) over :func:`thresholds_grid`;
- :func:`sensitivity_at`: the best sensitivity of a sweep within a false-alarm budget;
- :func:`operating_points_for`: operating points (:func:`choose_operating_points`) as the JSON
  dicts a checkpoint stores, each with its post-processing off-threshold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from eegssm.config.postprocess import PostprocessConfig
from eegssm.io.types import Event
from eegssm.scoring.metrics import SweepCurve
from eegssm.scoring.operating_points import choose_operating_points
from eegssm.scoring.segments import SeizureTrack


def events_from_labels(labels: np.ndarray, sfreq: float) -> list[Event]:
    """Seizure events (seconds) of per-sample labels ``(T,)`` (runs of nonzero samples)."""
    from eegssm.postprocess import runs

    starts, stops = runs(np.asarray(labels) > 0)
    return [Event(float(a) / sfreq, float(b) / sfreq) for a, b in zip(starts, stops)]


def track_from_labels(labels: np.ndarray, sfreq: float, name: str = "") -> SeizureTrack:
    """The :class:`SeizureTrack` of per-sample labels ``(T,)`` (nonzero runs → intervals in s)."""
    from eegssm.postprocess import runs

    s, e = runs(np.asarray(labels) > 0)
    intervals = np.stack([s, e], axis=1).astype(np.float64) / sfreq
    return SeizureTrack(intervals, len(labels) / sfreq, name)


def thresholds_grid(n: int) -> np.ndarray:
    """``n`` evenly spaced thresholds strictly inside (0, 1)."""
    return np.linspace(0.0, 1.0, n + 2)[1:-1]


def score_probabilities(
    recordings: Sequence,
    probs: Sequence[np.ndarray],
    postprocess: PostprocessConfig,
    n_thresholds: int,
) -> tuple[dict[str, Any], SweepCurve]:
    """Sample AUROC / PR-AUC and the post-processed OVERLAP sweep over ``n_thresholds``.

    Args:
        recordings: objects with ``labels (T,)``, ``sfreq``, ``name`` and ``duration`` (s), e.g.
            :class:`eegssm.data.recordings.EvalRecording`.
        probs: the probability trace ``(T,)`` of each recording.
        postprocess: the post-processing (its thresholds are swept, the on/off gap kept).
        n_thresholds: thresholds of :func:`thresholds_grid`.

    Returns:
        ``(metrics dict, SweepCurve)``; metrics: ``auroc``, ``pr_auc``, ``hours``, ``seizures``.
    """
    from eegssm.scoring.metrics import auroc, postprocessed_sweep, pr_auc

    y = np.concatenate([r.labels for r in recordings]) if recordings else np.zeros(0)
    p = np.concatenate(probs) if probs else np.zeros(0)
    sfreq = recordings[0].sfreq if recordings else 256.0
    pairs = [(pr, track_from_labels(r.labels, r.sfreq, r.name)) for r, pr in zip(recordings, probs)]
    curve = postprocessed_sweep(pairs, sfreq, thresholds_grid(n_thresholds), postprocess)
    metrics = {
        "auroc": auroc(y, p),
        "pr_auc": pr_auc(y, p),
        "hours": float(sum(r.duration for r in recordings) / 3600),
        "seizures": int(curve.targets),
    }
    return metrics, curve


def sensitivity_at(curve: SweepCurve, fa_per_24h: float) -> tuple[float, float, float]:
    """Best sensitivity with FA/24h ≤ budget: ``(sensitivity, fa_per_24h, threshold)``
    (``(0, nan, nan)`` when no threshold meets the budget)."""
    ok = np.flatnonzero(curve.fa_per_24h <= fa_per_24h)
    if not ok.size:
        return 0.0, math.nan, math.nan
    best = ok[np.lexsort((-curve.thresholds[ok], -curve.sensitivity[ok]))[0]]
    return (
        float(curve.sensitivity[best]),
        float(curve.fa_per_24h[best]),
        float(curve.thresholds[best]),
    )


def operating_points_for(
    curve: SweepCurve, targets: Sequence[float], postprocess: PostprocessConfig, split: str = "dev"
) -> list[dict[str, Any]]:
    """Operating points as JSON dicts with the post-processing off-threshold for each (the
    on/off gap of ``postprocess`` kept below the chosen threshold, clipped at 0)."""
    gap = postprocess.on_threshold - postprocess.off_threshold
    out = []
    for p in choose_operating_points(curve, targets, split):
        d = asdict(p)
        d["off_threshold"] = max(p.threshold - gap, 0.0)
        out.append(d)
    return out
