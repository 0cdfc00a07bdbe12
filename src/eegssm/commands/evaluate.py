"""``eegssm evaluate``: score a detector checkpoint on a split with every scorer.

DATA is a cache built by ``eegssm build-cache`` (its ``--split`` is the TUSZ folder split, or
the subjects of ``split_by_subject`` when the corpus has none) or a folder of EDF/BDF files with
their annotations (csv_bi / events.tsv / CHB-MIT / Siena lists beside them; every file is used).
Writes per-recording csv_bi references and hypotheses (re-scorable with ``eegssm score``),
``scores.json`` (NEDC OVERLAP/TAES/EPOCH/DPALIGN, SzCORE, AUROC, PR-AUC, ECE, the
sensitivity-vs-FA/24h curve, the checkpoint's dev-chosen operating points measured here),
``curve.png``, ``calibration.png`` and ``report.md``.

examples:
  eegssm evaluate runs/tusz/model cache/tusz --split eval --out eval-report
  eegssm evaluate runs/tusz/model recordings/ --split holdout
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eegssm.commands._args import torch_device


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a detector on a split (all NEDC scorers, SzCORE, curves, calibration)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", type=Path, help="detector folder (model.safetensors + config)")
    p.add_argument("data", type=Path, help="a cache folder (manifest.json) or a folder of EDFs")
    p.add_argument("--split", default="eval", help="split name (default: eval)")
    p.add_argument("--out", type=Path, default=Path("eegssm-eval"), help="output folder")
    p.add_argument("--fa-per-24h", type=float, default=None, help="operating point for hyp files")
    p.add_argument("--fraction-seed", type=int, default=0, help="seed of split_by_subject")
    p.add_argument("--device", type=torch_device, default="cpu")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--max-recordings", type=int, default=None, help="evaluate only the first N")
    p.set_defaults(func=run)


def recordings_from_folder(folder: Path, detector, limit: int | None) -> list:
    """Preprocessed recordings with per-sample labels from EDF files and their annotations."""
    from eegssm.commands.detect import find_inputs
    from eegssm.data.recordings import EvalRecording, reference_seizures
    from eegssm.io import read_recording
    from eegssm.preprocessing.pipeline import preprocess
    from eegssm.preprocessing.windowing import sample_labels

    out = []
    for path in find_inputs([str(folder)])[:limit]:
        raw = read_recording(path)
        reference = reference_seizures(path, raw)
        if reference is None:
            print(f"skipping {path.name}: no annotations", file=sys.stderr)
            continue
        rec = preprocess(raw, detector.preprocess_config)
        labels = sample_labels(reference, rec.n_times, rec.sfreq)
        out.append(
            EvalRecording(path.name, str(raw.meta.get("subject")), rec.data, labels, rec.sfreq)
        )
    return out


def recordings_from_split(cache: Path, split: str, seed: int, limit: int | None) -> list:
    """The whole labelled recordings of one split of a cache (TUSZ folder split, or subjects)."""
    from eegssm.config import SPLIT_FRACTIONS
    from eegssm.data import Manifest, WindowDataset, split_by_subject
    from eegssm.data.recordings import recordings_from_cache

    manifest = Manifest.load(cache)
    if any(r.get("split") for r in manifest.recordings):
        dataset = WindowDataset(cache, split=split)
    else:
        subjects = split_by_subject(manifest, dict(SPLIT_FRACTIONS), seed)
        if split not in subjects:
            raise ValueError(f"split {split!r}: this cache has train/dev/eval by subject")
        dataset = WindowDataset(cache, subjects=subjects[split])
    return recordings_from_cache(dataset, limit)


def run(args: argparse.Namespace) -> int:
    from eegssm.detection import Detector
    from eegssm.evaluation import evaluate

    detector = Detector.from_checkpoint(args.checkpoint, args.device, args.batch_size)
    if (args.data / "manifest.json").is_file():
        recordings = recordings_from_split(
            args.data, args.split, args.fraction_seed, args.max_recordings
        )
    elif args.data.is_dir():
        recordings = recordings_from_folder(args.data, detector, args.max_recordings)
    else:
        print(f"error: {args.data}: not a cache or a folder of EDF files", file=sys.stderr)
        return 2
    result = evaluate(detector, recordings, args.split, args.out, args.fa_per_24h)
    print((args.out / "report.md").read_text())
    print(f"wrote {args.out}/ (scores.json, report.md, curve.png, calibration.png, ref/, hyp/)")
    return 0 if result["recordings"] else 1
