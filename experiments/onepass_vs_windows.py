#!/usr/bin/env python
"""One pass over the whole recording against overlapping windows, for the bundled detector.

The bundled checkpoint was trained on 30-s windows; ``eegssm detect`` now reads a recording
whole (``eegssm.onepass``). This checks that the longer context does not make detection worse:

1. **Real EEG, out of fold** (the run of ``scripts/train_default_checkpoint.py``): the same 7
   fold models score every held-out segment both ways (windows: 30 s every 15 s, averaged);
   operating points are chosen from each set of scores as the recipe does; reported: chb01
   onsets flagged, false alarms on seizure-free EEG, ictal-vs-pre-ictal sample AUROC.
2. **Long synthetic recordings** (``eegssm.data.synthetic``, 19 channels, 256 Hz; 3 seeds of 1 h
   with 4 seizures each and 1 seizure-free hour): OVERLAP sensitivity and false alarms at the
   checkpoint's 10 FA/24h operating point, and sample AUROC, both ways.
3. **Seams**: on the 1-h recordings, the mean absolute change of the probability from one sample
   to the next at the windows' edges (every 15 s) and elsewhere, both ways; and the largest
   difference of each way from the model run on the whole recording at once.

Writes ``docs/results/onepass.md`` (and ``.json``)::

    python experiments/onepass_vs_windows.py --windows-run RUN_A --onepass-run RUN_B

``RUN_A`` holds fold scores made with windows (``folds/<i>/oof.npz``), ``RUN_B`` the same folds
scored in one pass (re-scored by deleting the ``oof.npz`` files of a copy of the run and running
``scripts/train_default_checkpoint.py --set output_dir=RUN_B``: trained weights are reused).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "onepass.md"


def real_out_of_fold(windows_run: Path, onepass_run: Path, config: Path) -> dict:
    from eegssm.recipes.detector_real import (
        choose_points,
        cross_validate,
        key,
        load_corpus,
        load_real_recipe,
    )
    from eegssm.scoring.metrics import auroc

    out = {}
    for name, run in (("windows", windows_run), ("one pass", onepass_run)):
        recipe = load_real_recipe(config, {"output_dir": str(run)})
        segments, bonn = load_corpus(recipe)
        probs = cross_validate(recipe, segments, bonn, only=[])  # cached scores only
        ev = choose_points(recipe, segments, probs)
        point = ev["operating_points"][0]
        clips = [s for s in segments if s.dataset == "chbmit"]
        y = np.concatenate([np.full(len(probs[key(s)]), s.kind == "ictal") for s in clips])
        p = np.concatenate([probs[key(s)] for s in clips])
        neg = [probs[key(s)].max() for s in segments if s.kind != "ictal"]
        out[name] = {
            "threshold": point["threshold"],
            "flagged": point["seizures_flagged"],
            "seizures": point["seizures"],
            "false_alarms": point["false_alarms"],
            "negative_hours": ev["negative_hours"],
            "negative_recordings": ev["negative_recordings"],
            "clip_auroc": float(auroc(y, p)),
            "max_negative_p": float(np.max(neg)),
        }
    return out


def synthetic(folder: Path) -> dict:
    from eegssm.data.recordings import reference_seizures
    from eegssm.data.synthetic import write_synthetic
    from eegssm.detection import Detector
    from eegssm.io import read_recording
    from eegssm.preprocessing.pipeline import preprocess
    from eegssm.scoring import overlap
    from eegssm.scoring.metrics import auroc
    from eegssm.scoring.segments import seizure_track

    modes = {"windows": Detector.from_checkpoint(inference="windows")}
    modes["one pass"] = Detector.from_checkpoint(inference="onepass")
    model = modes["one pass"].model
    rows, seams = [], {"windows": [], "one pass": []}
    recordings = [(seed, 4) for seed in (7, 8, 9)] + [(10, 0)]
    for seed, n in recordings:
        edf, _ = write_synthetic(
            folder / f"s{seed}", duration_s=3600, n_seizures=n, seed=seed, sfreq=256.0
        )
        raw = read_recording(edf)
        truth = reference_seizures(edf, raw) or []  # the csv_bi written beside the EDF
        clean = preprocess(raw, modes["one pass"].preprocess_config)
        with torch.no_grad():
            whole = torch.sigmoid(model(torch.from_numpy(clean.data)[None]))[0].numpy()
        row = {"seed": seed, "seizures": n}
        for name, det in modes.items():
            res = det.run(raw, fa_per_24h=10.0)
            c = overlap.score(
                seizure_track(truth, raw.duration), seizure_track(res.events, raw.duration)
            )
            labels = np.zeros(len(res.probs), bool)
            for e in truth:
                labels[int(e.start * clean.sfreq) : int(e.stop * clean.sfreq)] = True
            mixed = 0 < labels.sum() < labels.size
            row[name] = {
                "hits": int(c.hits),
                "false_alarms": int(c.false_alarms),
                "auroc": float(auroc(labels, res.probs)) if mixed else None,
                "max_abs_diff_from_whole": float(np.abs(res.probs - whole).max()),
                "seconds_over_1e-5": float((np.abs(res.probs - whole) > 1e-5).sum() / clean.sfreq),
            }
            step = np.abs(np.diff(res.probs))
            edge = np.zeros(step.size, bool)
            stride = int(det.stride_s * clean.sfreq)
            edge[stride - 1 :: stride] = True  # between samples k·stride - 1 and k·stride
            seams[name].append((float(step[edge].mean()), float(step[~edge].mean())))
        rows.append(row)
    return {"recordings": rows, "seams": seams}


def report(real: dict, syn: dict) -> str:
    lines = [
        "# One pass against windows (bundled detector)",
        "",
        "Produced by `python experiments/onepass_vs_windows.py`. The bundled checkpoint was "
        "trained on 30-s windows; `eegssm detect` reads the whole recording in one pass "
        "(`eegssm.onepass`, equal to the model on the whole sequence). Windows: 30 s every "
        "15 s, averaged where they overlap (the former inference).",
        "",
        "## 1. Real EEG, out of fold (same 7 fold models, scored both ways)",
        "",
        "| inference | threshold | chb01 onsets flagged | false alarms (seizure-free) | "
        "highest p on seizure-free EEG | chb01 clip sample AUROC |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in real.items():
        lines.append(
            f"| {name} | {r['threshold']:.3f} | {r['flagged']}/{r['seizures']} | "
            f"{r['false_alarms']} in {r['negative_hours']:.2f} h ({r['negative_recordings']} rec.)"
            f" | {r['max_negative_p']:.3f} | {r['clip_auroc']:.3f} |"
        )
    lines += [
        "",
        "The real recordings here are short (eegmat 1–3 min, eegmmidb 1–2 min, chb01 clips "
        "10 s): one pass and windows see almost the same context on them, so this part checks "
        "that nothing broke, not long contexts. Section 2 does that.",
        "",
        "## 2. Hour-long synthetic recordings at the 10 FA/24h operating point",
        "",
        "| seed | seizures | inference | seizures hit (OVERLAP) | false alarms | sample AUROC | "
        "max abs. difference from the whole-sequence model | seconds where it is > 1e-5 |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in syn["recordings"]:
        for name in ("windows", "one pass"):
            r = row[name]
            auc = "—" if r["auroc"] is None else f"{r['auroc']:.3f}"
            lines.append(
                f"| {row['seed']} | {row['seizures']} | {name} | {r['hits']}/{row['seizures']} | "
                f"{r['false_alarms']} | {auc} | {r['max_abs_diff_from_whole']:.2e} | "
                f"{r['seconds_over_1e-5']:.1f} |"
            )
    lines += [
        "",
        "One pass computes the model on the whole sequence: it differs from running the model on "
        "the whole hour at once by float round-off (~1e-7), except for a second or so where an "
        "electrode's 3rd and 4th strongest edge weights are nearly tied (the graph keeps the top "
        "3): round-off then picks the other neighbour and the probability moves by ~1e-3 for "
        "one pooled graph step (the model is discontinuous there, whatever the chunking). Windows "
        "differ from the whole-sequence model everywhere: each sees 30 s.",
        "",
        "## 3. Seams",
        "",
        "Mean |p[t+1] − p[t]| at the windows' edges (every 15 s) and elsewhere, over the four "
        "hours:",
        "",
        "| inference | at window edges | elsewhere | ratio |",
        "|---|---:|---:|---:|",
    ]
    for name, pairs in syn["seams"].items():
        at = float(np.mean([a for a, _ in pairs]))
        off = float(np.mean([b for _, b in pairs]))
        lines.append(f"| {name} | {at:.2e} | {off:.2e} | {at / off:.1f}× |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows-run", type=Path, required=True)
    ap.add_argument("--onepass-run", type=Path, required=True)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "detector_real.yaml")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    from eegssm import atomic

    real = real_out_of_fold(args.windows_run, args.onepass_run, args.config)
    with tempfile.TemporaryDirectory() as tmp:
        syn = synthetic(Path(tmp))
    text = report(real, syn)
    print(text)
    atomic.write_text(args.out, text)
    atomic.write_text(args.out.with_suffix(".json"), json.dumps({"real": real, **syn}, indent=1))


if __name__ == "__main__":
    main()
