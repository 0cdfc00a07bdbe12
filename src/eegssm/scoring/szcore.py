"""SzCORE event and sample scoring through the ``timescoring`` package (EPFL, v0.0.7).

This module only adapts inputs and outputs; the scoring is ``timescoring``'s own:

* **event**: events closer than 90 s merged, longer than 300 s split; a reference event is
  detected when any hypothesis sample lies in ``[start − 30 s, stop + 60 s]``; ``fpRate`` is false
  alarms per 24 h.
* **sample** (1 Hz): second-by-second masks; ``fpRate`` is false-positive seconds per 24 h.

Totals sum ``tp``, ``fp`` and ``refTrue`` over files and recompute the ratios; the total
``fpRate`` divides by the summed header durations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from eegssm.scoring.counting import SECONDS_PER_DAY
from eegssm.scoring.segments import SeizureTrack, check_pair

METHOD = "SZCORE"

#: Sampling rate (Hz) of the annotation masks handed to ``timescoring``.
ANNOTATION_FS = 256


@dataclass(frozen=True)
class SzcoreCounts:
    """``timescoring`` counts for one file or a total.

    Attributes:
        ref_true: reference events (event scoring) or positive seconds (sample scoring).
        tp: detected reference events / true-positive seconds.
        fp: false-alarm events / false-positive seconds.
        fp_rate: false positives per 24 h as ``timescoring`` computes it.
    """

    ref_true: int
    tp: int
    fp: int
    fp_rate: float

    @property
    def sensitivity(self) -> float:
        return self.tp / self.ref_true if self.ref_true > 0 else math.nan

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp > 0 else math.nan

    @property
    def f1(self) -> float:
        if self.ref_true + self.fp == 0:
            return math.nan
        return 2 * self.tp / (2 * self.tp + self.fp + (self.ref_true - self.tp))

    def as_dict(self) -> dict[str, float | int | None]:
        """The fields of ``szcore_expected.json`` (``None`` for NaN)."""

        def num(v: float) -> float | None:
            return None if math.isnan(v) else float(v)

        return {
            "sensitivity": num(self.sensitivity),
            "precision": num(self.precision),
            "f1": num(self.f1),
            "fpRate": num(self.fp_rate),
            "refTrue": int(self.ref_true),
            "tp": int(self.tp),
            "fp": int(self.fp),
        }


@dataclass(frozen=True)
class SzcoreResult:
    """SzCORE event and sample scores of one file or of a total (``duration_s`` summed)."""

    duration_s: float
    event: SzcoreCounts
    sample: SzcoreCounts

    def as_dict(self) -> dict:
        return {
            "duration_s": self.duration_s,
            "event": self.event.as_dict(),
            "sample": self.sample.as_dict(),
        }


def _annotation(track: SeizureTrack, fs: int):
    from timescoring.annotations import Annotation

    events = [(float(a), float(b)) for a, b in track.intervals]
    return Annotation(events, fs, round(track.duration * fs))


def score(ref: SeizureTrack, hyp: SeizureTrack, fs: int = ANNOTATION_FS) -> SzcoreResult:
    """SzCORE scores of one file with ``timescoring`` defaults.

    Args:
        ref, hyp: seizure tracks of the same recording.
        fs: sampling rate (Hz) of the annotation masks built from the intervals.
    """
    from timescoring import scoring

    check_pair(ref, hyp)
    r, h = _annotation(ref, fs), _annotation(hyp, fs)
    ev = scoring.EventScoring(r, h)
    sa = scoring.SampleScoring(r, h, fs=1)

    def counts(s) -> SzcoreCounts:
        return SzcoreCounts(int(s.refTrue), int(s.tp), int(s.fp), float(s.fpRate))

    return SzcoreResult(ref.duration, counts(ev), counts(sa))


def total(results: Sequence[SzcoreResult]) -> SzcoreResult:
    """Sum ``tp``, ``fp``, ``refTrue`` and durations; ``fpRate`` per 24 h of summed duration."""
    dur = float(sum(r.duration_s for r in results))

    def add(parts: list[SzcoreCounts]) -> SzcoreCounts:
        fp = sum(p.fp for p in parts)
        rate = fp / dur * SECONDS_PER_DAY if dur > 0 else math.nan
        return SzcoreCounts(sum(p.ref_true for p in parts), sum(p.tp for p in parts), fp, rate)

    return SzcoreResult(dur, add([r.event for r in results]), add([r.sample for r in results]))
