"""Operating points: thresholds for target false-alarm rates, chosen on one split only.

Thresholds are chosen on a development split (:func:`choose_operating_points`) and applied
unchanged to an evaluation split (:func:`evaluate_operating_points`); every result records the
split that chose its threshold and the split it was measured on, and choosing and measuring on
the same split is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eegssm.config.evaluation import TARGETS_FA_PER_24H
from eegssm.scoring.metrics import SweepCurve, overlap_sweep
from eegssm.scoring.segments import SeizureTrack

#: Target false alarms per 24 h (OVERLAP) reported for TUSZ detectors.
DEFAULT_TARGETS_FA_PER_24H = TARGETS_FA_PER_24H


@dataclass(frozen=True)
class OperatingPoint:
    """A threshold chosen for a target false-alarm rate.

    Attributes:
        target_fa_per_24h: the false-alarm budget per 24 h.
        threshold: the chosen detection threshold.
        chosen_on: name of the split the threshold was chosen on (e.g. ``"dev"``).
        sensitivity: sensitivity (fraction) on that split at the threshold.
        fa_per_24h: false alarms per 24 h on that split at the threshold.
        feasible: whether some threshold met the budget (if not: the strictest threshold).
    """

    target_fa_per_24h: float
    threshold: float
    chosen_on: str
    sensitivity: float
    fa_per_24h: float
    feasible: bool = True


@dataclass(frozen=True)
class OperatingPointResult:
    """An operating point measured on another split.

    Attributes:
        point: the operating point (with the split that chose it).
        evaluated_on: name of the split measured.
        sensitivity: fraction of reference seizures detected (OVERLAP).
        fa_per_24h: false alarms per 24 h.
        hits, targets, false_alarms: the counts behind them.
    """

    point: OperatingPoint
    evaluated_on: str
    sensitivity: float
    fa_per_24h: float
    hits: int
    targets: int
    false_alarms: int


def choose_operating_points(
    curve: SweepCurve,
    targets_fa_per_24h: Sequence[float] = DEFAULT_TARGETS_FA_PER_24H,
    split: str = "dev",
) -> list[OperatingPoint]:
    """For each budget, the threshold with the highest sensitivity whose FA/24h is within it.

    Ties in sensitivity go to the higher threshold (fewer false alarms). A budget no threshold
    meets gets the threshold with the fewest false alarms, marked ``feasible=False``.

    Args:
        curve: a sweep computed on the split named ``split``.
        targets_fa_per_24h: false-alarm budgets per 24 h.
        split: name recorded as ``chosen_on``.
    """
    sens, fa, th = curve.sensitivity, curve.fa_per_24h, curve.thresholds
    points = []
    for target in targets_fa_per_24h:
        ok = np.flatnonzero(fa <= target)
        if ok.size:
            best = ok[np.lexsort((-th[ok], -sens[ok]))[0]]  # max sensitivity, then max threshold
            feasible = True
        else:
            best = int(np.lexsort((-th, fa))[0])
            feasible = False
        points.append(
            OperatingPoint(
                float(target), float(th[best]), split, float(sens[best]), float(fa[best]), feasible
            )
        )
    return points


def evaluate_operating_points(
    points: Sequence[OperatingPoint],
    recordings: Sequence[tuple[np.ndarray, SeizureTrack]],
    sfreq: float,
    split: str = "eval",
) -> list[OperatingPointResult]:
    """Apply chosen thresholds unchanged to another split's recordings.

    Args:
        points: operating points from :func:`choose_operating_points`.
        recordings: ``(probs (T,), ref SeizureTrack)`` of the split, probabilities at ``sfreq``.
        sfreq: sampling rate in Hz.
        split: name recorded as ``evaluated_on``.

    Raises:
        ValueError: a point was chosen on the split being evaluated.
    """
    for p in points:
        if p.chosen_on == split:
            raise ValueError(
                f"threshold {p.threshold} was chosen on split {split!r}; choose thresholds on a "
                "development split and evaluate on a different one"
            )
    curve = overlap_sweep(recordings, sfreq, np.array([p.threshold for p in points]))
    out = []
    for p in points:
        k = int(np.searchsorted(curve.thresholds, p.threshold))
        out.append(
            OperatingPointResult(
                p,
                split,
                float(curve.sensitivity[k]),
                float(curve.fa_per_24h[k]),
                int(curve.hits[k]),
                int(curve.targets),
                int(curve.false_alarms[k]),
            )
        )
    return out
