"""Evaluating a seizure detector on a split: every scorer, curves, calibration, operating points.

``evaluate(detector, recordings, split, out)`` runs the detector over whole recordings (overlap
averaged, as ``eegssm detect`` does) and writes into ``out``:

    ref/<name>.csv_bi, hyp/<name>.csv_bi, ref.list, hyp.list   hypotheses at the operating point
                                                              (re-scorable with `eegssm score`)
    scores.json      NEDC OVERLAP / TAES / EPOCH / DPALIGN and SzCORE (totals and per file),
                     sample AUROC / PR-AUC / ECE, the sensitivity-vs-FA/24h curve, and the
                     checkpoint's operating points (chosen on dev) measured on this split
    curve.png, calibration.png, report.md (a table naming the scorer of every number)

Thresholds are never chosen here: the operating points come from the checkpoint, where the
training recipe chose them on its dev split.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from eegssm.config import DetectorEvaluationConfig
from eegssm.data.recordings import EvalRecording
from eegssm.detection import Detector, operating_point, with_thresholds
from eegssm.inference import predict_recordings
from eegssm.postprocess import postprocess
from eegssm.scoring.traces import events_from_labels, score_probabilities, track_from_labels


def _save_figure(fig, path: Path) -> None:
    """Write a matplotlib figure as PNG through a temporary file and a rename; close it."""
    import matplotlib.pyplot as plt

    from eegssm import atomic

    try:
        atomic.write_atomic(
            path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
        )
    finally:
        plt.close(fig)


def _plot_curve(curve, path: Path, points: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    fa = np.maximum(curve.fa_per_24h, 1e-2)
    ax.step(fa, 100 * curve.sensitivity, where="post", color="#1f4e79")
    for p in points:
        ax.plot(max(p["fa_per_24h"], 1e-2), 100 * p["sensitivity"], "o", color="#d62728")
    ax.set_xscale("log")
    ax.set_xlabel("false alarms per 24 h (NEDC OVERLAP; 0 drawn at 0.01)")
    ax.set_ylabel("sensitivity (%)")
    ax.set_title("sensitivity vs false-alarm rate (threshold sweep)")
    ax.grid(alpha=0.3)
    _save_figure(fig, path)


def _plot_calibration(y: np.ndarray, p: np.ndarray, path: Path, n_bins: int = 10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0, 1, n_bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    conf = np.bincount(idx, weights=p, minlength=n_bins) / np.maximum(counts, 1)
    freq = np.bincount(idx, weights=y, minlength=n_bins) / np.maximum(counts, 1)
    used = counts > 0
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.plot(conf[used], freq[used], "o-", color="#1f4e79")
    ax.set_xlabel("mean predicted probability")
    ax.set_ylabel("fraction of seizure samples")
    ax.set_title("calibration (10 bins)")
    _save_figure(fig, path)


def evaluate(
    detector: Detector,
    recordings: list[EvalRecording],
    split: str,
    out: str | Path,
    fa_per_24h: float | None = None,
    n_thresholds: int = DetectorEvaluationConfig().n_thresholds,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate on ``recordings`` (preprocessed data and per-sample labels) and write the outputs
    listed in the module docstring.

    Args:
        detector: the checkpoint to evaluate.
        recordings: the split's recordings.
        split: its name (recorded with every number; operating points chosen on the same split
            are reported as in-sample).
        out: output folder.
        fa_per_24h: operating point for the hypothesis files (default: the lowest stored target
            of at least 10 FA/24h, else the checkpoint's default post-processing).
        n_thresholds: thresholds of the post-processed OVERLAP sweep.
    """
    from eegssm import atomic
    from eegssm.io.annotations import write_csv_bi
    from eegssm.scoring import overlap
    from eegssm.scoring.metrics import ece
    from eegssm.scoring.report import score_pairs
    from eegssm.scoring.segments import seizure_track

    if not recordings:
        raise ValueError(f"no recordings to evaluate on split {split!r}")
    out = Path(out)
    sfreq = recordings[0].sfreq
    window = int(round(detector.window_s * sfreq))
    stride = int(round(detector.stride_s * sfreq))
    probs = predict_recordings(
        detector.model, recordings, window, stride, detector.batch_size, detector.device,
        detector.inference,
    )  # fmt: skip
    pp_dict = asdict(detector.postprocess_defaults)
    metrics, curve = score_probabilities(
        recordings, probs, detector.postprocess_defaults, n_thresholds
    )
    y = np.concatenate([r.labels for r in recordings]).astype(np.float64)
    p = np.concatenate(probs).astype(np.float64)
    metrics["ece"] = ece(y, p) if y.size else math.nan

    stored = detector.meta.get("operating_points") or []
    if fa_per_24h is None and stored:
        at_least_10 = [pt for pt in stored if float(pt["target_fa_per_24h"]) >= 10.0]
        pick = min(at_least_10 or stored, key=lambda pt: float(pt["target_fa_per_24h"]))
        fa_per_24h = float(pick["target_fa_per_24h"])
    pp = (
        with_thresholds(pp_dict, operating_point(detector.meta, fa_per_24h))
        if fa_per_24h is not None
        else detector.postprocess_defaults
    )

    # hypotheses and references as csv_bi, then every scorer on them
    pairs, ref_paths, hyp_paths = [], [], []
    for sub in ("ref", "hyp"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for r, pr in zip(recordings, probs):
        name = Path(r.name).with_suffix("").as_posix().replace("/", "__")
        ref_events = events_from_labels(r.labels, r.sfreq)
        hyp_events = postprocess(pr, r.sfreq, pp)
        ref_paths.append(write_csv_bi(out / "ref" / f"{name}.csv_bi", ref_events, r.duration, name))
        hyp_paths.append(write_csv_bi(out / "hyp" / f"{name}.csv_bi", hyp_events, r.duration, name))
        pairs.append(
            (
                seizure_track(ref_events, r.duration, name),
                seizure_track(hyp_events, r.duration, name),
            )
        )
    atomic.write_text(out / "ref.list", "".join(f"{q.resolve()}\n" for q in ref_paths))
    atomic.write_text(out / "hyp.list", "".join(f"{q.resolve()}\n" for q in hyp_paths))
    scores = score_pairs(pairs).to_json()

    # the checkpoint's operating points, applied unchanged to this split
    op_rows = []
    for point in stored:
        cfg = with_thresholds(pp_dict, point)
        counts = None
        for r, pr in zip(recordings, probs):
            c = overlap.score(
                track_from_labels(r.labels, r.sfreq, r.name),
                seizure_track(postprocess(pr, r.sfreq, cfg), r.duration, r.name),
            )
            counts = c if counts is None else counts + c
        op_rows.append(
            {
                "target_fa_per_24h": float(point["target_fa_per_24h"]),
                "threshold": float(point["threshold"]),
                "chosen_on": point.get("chosen_on", "dev"),
                "evaluated_on": split,
                "in_sample": point.get("chosen_on", "dev") == split,
                "sensitivity": counts.sensitivity,
                "fa_per_24h": counts.fa_per_24h,
                "hits": int(counts.hits),
                "targets": int(counts.targets),
                "false_alarms": int(counts.false_alarms),
            }
        )

    result = {
        "split": split,
        "checkpoint": detector.name,
        "recordings": len(recordings),
        "hours": metrics["hours"],
        "seizures": metrics["seizures"],
        "sample_metrics": {k: metrics[k] for k in ("auroc", "pr_auc", "ece")},
        "hypothesis_operating_point_fa_per_24h": fa_per_24h,
        "hypothesis_postprocess": asdict(pp),
        "scores": scores,
        "operating_points": op_rows,
        "curve": {
            "scorer": "NEDC OVERLAP after post-processing",
            "thresholds": curve.thresholds.tolist(),
            "sensitivity": curve.sensitivity.tolist(),
            "fa_per_24h": curve.fa_per_24h.tolist(),
        },
    }
    atomic.write_json(out / "scores.json", result, indent=2)
    _plot_curve(curve, out / "curve.png", op_rows)
    _plot_calibration(y, p, out / "calibration.png")
    atomic.write_text(out / "report.md", markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    """The evaluation as a markdown table; every number names its scorer."""
    t = result["scores"]["total"]
    m = result["sample_metrics"]
    lines = [
        f"# Evaluation on split `{result['split']}`",
        "",
        f"Checkpoint: {result['checkpoint']}. {result['recordings']} recordings, "
        f"{result['hours']:.2f} h, {result['seizures']} seizures. Hypotheses at the operating "
        f"point for {result['hypothesis_operating_point_fa_per_24h']} FA/24h (chosen on dev).",
        "",
        "| scorer | sensitivity (%) | precision (%) | F1 | FA/24h |",
        "|---|---:|---:|---:|---:|",
    ]

    def num(v: Any, scale: float = 1.0) -> str:
        return (
            "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v * scale:.2f}"
        )

    for method in ("OVERLAP", "TAES", "EPOCH", "DPALIGN"):
        if method in t:
            s = t[method]
            lines.append(
                f"| NEDC {method} | {num(s['sensitivity_pct'])} | {num(s['precision_pct'])} "
                f"| {num(s['f1'])} | {num(s['fa_per_24h'])} |"
            )
    if "SZCORE" in t:
        s = t["SZCORE"]["event"]
        lines.append(
            f"| SzCORE event (timescoring) | {num(s['sensitivity'], 100)} "
            f"| {num(s['precision'], 100)} | {num(s['f1'])} | {num(s['fpRate'])} |"
        )
    lines += [
        "",
        f"Sample-level (per 256 Hz sample): AUROC {m['auroc']:.4f}, PR-AUC {m['pr_auc']:.4f}, "
        f"ECE (10 bins) {m['ece']:.4f}.",
        "",
        "Operating points chosen on dev, applied unchanged here (NEDC OVERLAP after "
        "post-processing):",
        "",
        "| target FA/24h | threshold | chosen on | sensitivity | FA/24h | hits / seizures |",
        "|---:|---:|---|---:|---:|---:|",
    ]
    for o in result["operating_points"]:
        note = " (in-sample)" if o["in_sample"] else ""
        lines.append(
            f"| {o['target_fa_per_24h']:g} | {o['threshold']:.3f} | {o['chosen_on']}{note} "
            f"| {o['sensitivity']:.2f} | {o['fa_per_24h']:.2f} | {o['hits']} / {o['targets']} |"
        )
    lines += ["", "![curve](curve.png) ![calibration](calibration.png)", ""]
    return "\n".join(lines)
