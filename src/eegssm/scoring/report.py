"""Score many ref/hyp pairs with several methods; NEDC-style summary text and JSON.

The JSON layout is the one of ``nedc_expected.json`` (``tests/data/scoring_cases``; ``total`` and
``cases`` keyed by ``bname``, methods in capitals, the same field names) plus an ``SZCORE`` entry
per case and in total with the fields of ``szcore_expected.json``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from eegssm.scoring import dpalign, epoch, overlap, szcore, taes
from eegssm.scoring.counting import Counts, MethodReport, Scorer, score_files
from eegssm.scoring.segments import SeizureTrack, check_pair

#: NEDC methods in the order NEDC prints them, with their per-file scorers.
NEDC_METHODS: dict[str, Scorer] = {
    overlap.METHOD: overlap.score,
    taes.METHOD: taes.score,
    epoch.METHOD: epoch.score,
    dpalign.METHOD: dpalign.score,
}
#: All method names accepted by :func:`score_pairs`.
ALL_METHODS = (*NEDC_METHODS, szcore.METHOD)


@dataclass
class ScoreReport:
    """Results of :func:`score_pairs`: NEDC reports per method and SzCORE results per file."""

    names: list[str] = field(default_factory=list)
    nedc: dict[str, MethodReport] = field(default_factory=dict)
    szcore_per_file: dict[str, szcore.SzcoreResult] = field(default_factory=dict)
    szcore_total: szcore.SzcoreResult | None = None

    def to_json(self) -> dict:
        """``{"total": {METHOD: {...}}, "cases": {bname: {METHOD: {...}}}}``."""
        total: dict = {}
        cases: dict = {name: {} for name in self.names}
        for method, rep in self.nedc.items():
            dec = 2 if method == taes.METHOD else None
            total[method] = rep.total.as_dict(dec)
            for name, counts in rep.per_file.items():
                cases[name][method] = counts.as_dict(dec)
        if self.szcore_total is not None:
            total[szcore.METHOD] = self.szcore_total.as_dict()
            for name, res in self.szcore_per_file.items():
                cases[name][szcore.METHOD] = res.as_dict()
        return {"total": total, "cases": cases}


def normalize_methods(methods: Iterable[str]) -> list[str]:
    """Upper-case method names, ``ALL`` expanded; raises ``ValueError`` for unknown ones."""
    out: list[str] = []
    for m in methods:
        name = m.upper()
        names = list(ALL_METHODS) if name == "ALL" else [name]
        for n in names:
            if n not in ALL_METHODS:
                known = ", ".join(ALL_METHODS)
                raise ValueError(f"unknown scoring method {m!r}; choose from {known} or ALL")
            if n not in out:
                out.append(n)
    return out


def score_pairs(
    pairs: Sequence[tuple[SeizureTrack, SeizureTrack]], methods: Iterable[str] = ("all",)
) -> ScoreReport:
    """Score ref/hyp pairs (paired by position) with the given methods.

    Raises:
        ValueError: an unknown method, a pair whose durations differ, or duplicate names.
    """
    chosen = normalize_methods(methods)
    for ref, hyp in pairs:
        check_pair(ref, hyp)
    report = ScoreReport(names=[ref.name or f"file_{i:05d}" for i, (ref, _) in enumerate(pairs)])
    for method in chosen:
        if method in NEDC_METHODS:
            report.nedc[method] = score_files(method, NEDC_METHODS[method], pairs)
    if szcore.METHOD in chosen:
        results = [szcore.score(ref, hyp) for ref, hyp in pairs]
        report.szcore_per_file = dict(zip(report.names, results))
        report.szcore_total = szcore.total(results)
    return report


def _fmt_count(v: float, fractional: bool) -> str:
    return f"{v:10.2f}" if fractional else f"{int(round(v)):10d}"


def format_summary(report: ScoreReport) -> str:
    """NEDC-style plain-text summary of the totals (label SEIZ), one block per method."""
    lines: list[str] = []
    for method, rep in report.nedc.items():
        c: Counts = rep.total
        frac = method == taes.METHOD
        fa_unit = "secs per 24 hours" if c.fa_unit_s is not None else "per 24 hours"
        lines += [
            f"==== {method} SCORING SUMMARY ({len(rep.per_file)} files, "
            f"{c.duration_s:.2f} secs) ====",
            " LABEL: SEIZ",
            f"   Targets:        {_fmt_count(c.targets, frac)}",
            f"   Hits:           {_fmt_count(c.hits, frac)}",
            f"   Misses:         {_fmt_count(c.misses, frac)}",
            f"   False Alarms:   {_fmt_count(c.false_alarms, frac)}",
            f"   Sensitivity:    {100 * c.sensitivity:10.4f} %",
            f"   Precision:      {100 * c.precision:10.4f} %",
            f"   F1 Score:       {c.f1:10.4f}",
            f"   False Alarm Rate: {c.fa_per_24h:.4f} {fa_unit}",
            "",
        ]
    if report.szcore_total is not None:
        t = report.szcore_total
        n = len(report.szcore_per_file)
        lines.append(f"==== SZCORE (timescoring) SUMMARY ({n} files) ====")
        for kind, s in (("event", t.event), ("sample", t.sample)):
            unit = "FA per 24 hours" if kind == "event" else "FP secs per 24 hours"
            lines.append(
                f"   {kind:6s}  refTrue {s.ref_true:6d}  tp {s.tp:6d}  fp {s.fp:6d}  "
                f"sens {s.sensitivity:.4f}  prec {s.precision:.4f}  f1 {s.f1:.4f}  "
                f"{s.fp_rate:.4f} {unit}"
            )
        lines.append("")
    return "\n".join(lines)
