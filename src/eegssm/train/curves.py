"""The training curve: ``train_log.jsonl`` → ``training_curve.png`` beside the checkpoints.

Left: the training loss per logged step. Right: the evaluation metrics the recipe reports (for
the seizure detector the dev sensitivity at its FA/24h stopping point and the sample AUROC; for
EEGM2 the validation loss or balanced accuracy and AUROC), with the best evaluation marked.
The trainer redraws it after every evaluation and at the end, so it can be watched during a run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

#: Evaluation keys drawn, in this order, when present (others are in the log only).
PREFERRED = ("sensitivity_at_", "auroc", "pr_auc", "balanced_accuracy", "val_loss", "loss")
#: Evaluation keys never drawn (bookkeeping, not quality).
SKIPPED = {"seconds", "threshold", "score", "fa_per_24h", "step"}


def read_log(path: str | Path) -> tuple[list[tuple[int, float]], list[tuple[int, dict]]]:
    """``(loss points, evaluation points)`` of a ``train_log.jsonl``; a step logged twice (a
    resumed run repeats the steps after its last checkpoint) keeps its last record; a damaged
    line is skipped."""
    losses: dict[int, float] = {}
    evals: dict[int, dict] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(rec, dict) or "step" not in rec:
            continue
        step = int(rec["step"])
        if isinstance(rec.get("loss"), (int, float)):
            losses[step] = float(rec["loss"])
        if isinstance(rec.get("eval"), dict):
            evals[step] = rec["eval"]
    return sorted(losses.items()), sorted(evals.items())


def eval_keys(evals: list[tuple[int, dict]]) -> list[str]:
    """The evaluation metrics to draw (:data:`PREFERRED` order, else every numeric key)."""
    keys: list[str] = []
    for _, metrics in evals:
        for k, v in metrics.items():
            if k not in keys and k not in SKIPPED and isinstance(v, (int, float)):
                keys.append(k)
    chosen = [k for p in PREFERRED for k in keys if k.startswith(p) and k not in SKIPPED]
    chosen = list(dict.fromkeys(chosen))
    return chosen or keys


def _label(key: str) -> str:
    if key.startswith("sensitivity_at_") and key.endswith("_fa"):
        return f"dev sensitivity at {key[len('sensitivity_at_') : -len('_fa')]} FA/24h"
    return {"auroc": "AUROC", "pr_auc": "PR-AUC", "balanced_accuracy": "balanced accuracy"}.get(
        key, key.replace("_", " ")
    )


def plot_training_curve(
    log: str | Path,
    path: str | Path | None = None,
    title: str | None = None,
    best: dict[str, Any] | None = None,
) -> Path | None:
    """Draw ``log`` (a ``train_log.jsonl``) into ``path`` (default: ``training_curve.png``
    beside the log), atomically. Returns the PNG, or None when the log has no loss yet.

    Args:
        best: ``{"metric": key, "mode": "max" | "min"}`` marks the best evaluation.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from eegssm import atomic

    log = Path(log)
    path = Path(path) if path is not None else log.with_name("training_curve.png")
    losses, evals = read_log(log)
    if not losses:
        return None
    keys = eval_keys(evals)
    fig, axes = plt.subplots(1, 2 if keys else 1, figsize=(11 if keys else 6, 4), squeeze=False)
    ax = axes[0][0]
    steps, values = zip(*losses)
    ax.plot(steps, values, color="#1f77b4", lw=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    if all(v > 0 for v in values) and max(values) / max(min(values), 1e-12) > 20:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.set_title("training loss")
    if keys:
        ax = axes[0][1]
        loss_like = [k for k in keys if "loss" in k]
        quality = [k for k in keys if k not in loss_like]
        for k in quality:
            pts = [(s, m[k]) for s, m in evals if _finite(m.get(k))]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, "o-", ms=4, label=_label(k))
        if quality:
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("dev / validation metric")
        twin = ax.twinx() if quality and loss_like else ax
        for k in loss_like:
            pts = [(s, m[k]) for s, m in evals if _finite(m.get(k))]
            if pts:
                xs, ys = zip(*pts)
                twin.plot(xs, ys, "s--", ms=4, color="#d62728", label=_label(k))
                twin.set_ylabel(_label(k))
        if best and best.get("metric"):  # the early-stopping metric, drawn or not
            key = best["metric"]
            pts = [(s, m[key]) for s, m in evals if _finite(m.get(key))]
            if pts:
                pick = max if best.get("mode", "max") == "max" else min
                s_best, _ = pick(pts, key=lambda p: p[1])
                ax.axvline(s_best, color="grey", ls=":", lw=1, label=f"best {key}: step {s_best}")
        handles, labels = ax.get_legend_handles_labels()
        if twin is not ax:
            h2, l2 = twin.get_legend_handles_labels()
            handles, labels = handles + h2, labels + l2
        if handles:
            ax.legend(handles, labels, fontsize=8, loc="best")
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.set_title("evaluation")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    atomic.write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return path


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
