"""Per-file and total counting shared by the NEDC-compatible methods.

Each method turns one ref/hyp pair into :class:`Counts` (targets, hits, misses, false alarms and
the file duration); counts of several files add up, and the derived measures (sensitivity,
precision, F1, false alarms per 24 h) are computed from the sums exactly as NEDC v6.0.0 does for
its ``LABEL: SEIZ`` block.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from eegssm.scoring.segments import SeizureTrack, check_pair

SECONDS_PER_DAY = 86400.0

#: Output decimals of the NEDC summary (per field); TAES counts are fractional (2 decimals).
RATIO_DECIMALS = 4


@dataclass(frozen=True)
class Counts:
    """Seizure-class counts of one method on one or more files.

    Attributes:
        targets: reference seizure units (events; EPOCH: epochs).
        hits: reference units credited as detected (TAES: fractional sum).
        misses: reference units not detected.
        false_alarms: hypothesis seizure units not matched.
        duration_s: summed reference duration in seconds.
        fa_unit_s: seconds per false-alarm unit for the rate, ``None`` for a count of events
            (EPOCH uses the epoch length, giving false-alarm seconds per 24 h).
    """

    targets: float = 0
    hits: float = 0
    misses: float = 0
    false_alarms: float = 0
    duration_s: float = 0.0
    fa_unit_s: float | None = None

    def __add__(self, other: Counts) -> Counts:
        if self.fa_unit_s != other.fa_unit_s:
            raise ValueError("cannot add counts with different false-alarm units")
        return Counts(
            self.targets + other.targets,
            self.hits + other.hits,
            self.misses + other.misses,
            self.false_alarms + other.false_alarms,
            self.duration_s + other.duration_s,
            self.fa_unit_s,
        )

    @property
    def sensitivity(self) -> float:
        """``hits / (hits + misses)`` as a fraction; 0 when there is nothing to detect."""
        den = self.hits + self.misses
        return float(self.hits / den) if den != 0 else 0.0

    @property
    def precision(self) -> float:
        """``hits / (hits + false_alarms)`` as a fraction; 0 when undefined."""
        den = self.hits + self.false_alarms
        return float(self.hits / den) if den != 0 else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and sensitivity; 0 when undefined."""
        p, r = self.precision, self.sensitivity
        return 2.0 * p * r / (p + r) if round(p + r, 10) != 0 else 0.0

    @property
    def fa_per_24h(self) -> float:
        """False alarms (EPOCH: false-alarm seconds) per 24 hours of recording."""
        if self.duration_s == 0:
            return 0.0
        unit = 1.0 if self.fa_unit_s is None else self.fa_unit_s
        return float(self.false_alarms) * unit / self.duration_s * SECONDS_PER_DAY

    def as_dict(self, count_decimals: int | None = None) -> dict[str, float]:
        """The fields of ``nedc_expected.json`` (percentages, 4-decimal ratios).

        Args:
            count_decimals: round counts to this many decimals (TAES: 2); ``None`` keeps integers.
        """

        def count(v: float) -> float:
            return int(round(v)) if count_decimals is None else round(float(v), count_decimals)

        return {
            "targets": count(self.targets),
            "hits": count(self.hits),
            "misses": count(self.misses),
            "false_alarms": count(self.false_alarms),
            "sensitivity_pct": round(100.0 * self.sensitivity, RATIO_DECIMALS),
            "precision_pct": round(100.0 * self.precision, RATIO_DECIMALS),
            "f1": round(self.f1, RATIO_DECIMALS),
            "fa_per_24h": round(self.fa_per_24h, RATIO_DECIMALS),
            "total_duration_s": round(self.duration_s, RATIO_DECIMALS),
        }


#: A method: scores one (ref, hyp) pair whose durations agree.
Scorer = Callable[[SeizureTrack, SeizureTrack], Counts]


@dataclass
class MethodReport:
    """One method's counts per file (in input order, keyed by name) and in total."""

    method: str
    per_file: dict[str, Counts] = field(default_factory=dict)
    total: Counts = field(default_factory=Counts)


def score_files(
    method: str, scorer: Scorer, pairs: Sequence[tuple[SeizureTrack, SeizureTrack]]
) -> MethodReport:
    """Score each ref/hyp pair with ``scorer`` and total the counts.

    Raises:
        ValueError: a pair's durations differ, or two files share a name.
    """
    report = MethodReport(method)
    total: Counts | None = None
    for ref, hyp in pairs:
        check_pair(ref, hyp)
        counts = scorer(ref, hyp)
        key = ref.name or f"file_{len(report.per_file):05d}"
        if key in report.per_file:
            raise ValueError(f"two reference files are named {key!r}")
        report.per_file[key] = counts
        total = counts if total is None else total + counts
    if total is not None:
        report.total = total
    return report
