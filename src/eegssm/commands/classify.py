"""``eegssm classify CHECKPOINT PATH... --out DIR``: class probabilities for whole recordings."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eegssm.commands._args import add_threads, torch_device

DESCRIPTION = """\
Classify EEG recordings with a fine-tuned classifier checkpoint (eegssm finetune → F/best).

Each recording (EDF/BDF files; folders are searched recursively, other files skipped) is
preprocessed with the checkpoint's own settings (channels and montage, sampling rate,
normalisation), cut into non-overlapping windows of the checkpoint's length, and every window
gets calibrated class probabilities (a temperature fitted at fine-tuning time: on the validation
split, or on the held-out logits of the logistic regression's inner subject-wise CV; see
classify.json "calibration"); a window's class is their arg-max. A recording's decision is
the arg-max of the mean of its windows' probabilities. Writes, atomically:

  DIR/windows.csv      recording,start_s,stop_s,p_<class>...        one row per window
  DIR/recordings.csv   recording,n_windows,p_<class>...,predicted   one row per recording
  DIR/classify.json    eegssm version, checkpoint sha256, classes, window, channels,
                       aggregation, calibration, failures

A file that cannot be read is reported on stderr and skipped; the others are classified and the
exit status is then 1.
"""

EPILOG = """\
examples:
  eegssm classify runs/eegm2_finetune/best recordings/ --out predictions
  eegssm classify F/best a.edf b.bdf --out C -q
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "classify",
        help="class probabilities per window and per recording from a fine-tuned checkpoint",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="fine-tuned checkpoint folder")
    p.add_argument("paths", nargs="+", metavar="PATH", help="EDF/BDF files or folders")
    p.add_argument(
        "--out", type=Path, default=Path("eegssm-out"), help="output folder (default: %(default)s)"
    )
    p.add_argument(
        "--device", type=torch_device, default="cpu", help="torch device (default: %(default)s)"
    )
    p.add_argument(
        "--batch-size", type=int, default=16, help="windows per forward pass (default: %(default)s)"
    )
    add_threads(p, workers_alias=True)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from eegssm.classify import Classifier, classify
    from eegssm.train.checkpoint import CheckpointError

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    try:
        clf = Classifier(args.checkpoint, args.device, args.batch_size)
    except (FileNotFoundError, ValueError, CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        result = classify(clf, args.paths, args.out, progress=not args.quiet)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for failure in result.failures:
        print(f"error: {failure['recording']}: {failure['error']}", file=sys.stderr)
    n, failed = len(result.recordings), len(result.failures)
    if n:
        counts = {c: 0 for c in result.classes}
        for r in result.recordings:
            counts[result.classes[r.predicted]] += 1
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        print(
            f"classified {n} recording(s) ({summary}) into {args.out}/: windows.csv, "
            "recordings.csv, classify.json" + (f"; {failed} failed" if failed else "")
        )
    else:
        print(f"error: no recording could be classified ({failed} failed)", file=sys.stderr)
    return 1 if failed or not n else 0
