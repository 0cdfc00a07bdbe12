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

from eegssm.commands._args import (
    HelpFormatter,
    add_out,
    add_quiet,
    add_threads,
    label_mapping,
    torch_device,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score a detector on a split (all NEDC scorers, SzCORE, curves, calibration)",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "checkpoint", help="detector folder (model.safetensors + config) or Hub repository id"
    )
    p.add_argument("data", type=Path, help="a cache folder (manifest.json) or a folder of EDFs")
    p.add_argument("--split", default="eval", help="split name")
    add_out(p, Path("eegssm-eval"), "output folder")
    p.add_argument("--fa-per-24h", type=float, default=None, help="operating point for hyp files")
    p.add_argument("--fraction-seed", type=int, default=0, help="seed of split_by_subject")
    p.add_argument("--device", type=torch_device, default="cpu", help="torch device")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    p.add_argument("--max-recordings", type=int, default=None, help="evaluate only the first N")
    p.add_argument(
        "--label-map",
        type=label_mapping,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="map reference labels, e.g. siez=seiz (unknown labels are errors)",
    )
    add_threads(p)
    add_quiet(p)
    p.set_defaults(func=run)


def recordings_from_folder(
    folder: Path, detector, limit: int | None, label_map: dict[str, str] | None = None
) -> list:
    """Preprocessed recordings with per-sample labels from EDF files and their annotations."""
    from eegssm.commands.detect import find_inputs
    from eegssm.data.recordings import EvalRecording, reference_seizures
    from eegssm.io import read_recording
    from eegssm.preprocessing.pipeline import preprocess
    from eegssm.preprocessing.windowing import sample_labels

    out = []
    for path in find_inputs([str(folder)])[:limit]:
        raw = read_recording(path)
        reference = reference_seizures(path, raw, label_map)
        if reference is None:
            print(f"skipping {path.name}: no annotations", file=sys.stderr)
            continue
        try:
            rec = preprocess(raw, detector.preprocess_config)
        except ValueError as err:  # channels the montage cannot make, a flat recording
            raise ValueError(f"{path}: does not fit {detector.checkpoint_label}: {err}") from err
        order = detector.check_input(rec.ch_names, rec.sfreq, str(path))
        if order is not None:
            rec = rec.copy_with(data=rec.data[order], ch_names=[rec.ch_names[i] for i in order])
        labels = sample_labels(reference, rec.n_times, rec.sfreq)
        out.append(
            EvalRecording(path.name, str(raw.meta.get("subject")), rec.data, labels, rec.sfreq)
        )
    return out


def recordings_from_split(
    cache: Path, split: str, seed: int, limit: int | None, detector=None
) -> list:
    """The whole labelled recordings of one split of a cache (TUSZ folder split, or subjects)."""
    from eegssm.config import SPLIT_FRACTIONS
    from eegssm.data import Manifest, split_by_subject
    from eegssm.data.recordings import cached_recordings, recordings_from_cache

    manifest = Manifest.load(cache)
    if any(r.get("split") for r in manifest.recordings):
        recordings = cached_recordings(manifest, split=split)
    else:
        subjects = split_by_subject(manifest, dict(SPLIT_FRACTIONS), seed)
        if split not in subjects:
            raise ValueError(f"split {split!r}: this cache has train/dev/eval by subject")
        recordings = cached_recordings(manifest, subjects=subjects[split])
    if detector is not None and recordings:
        first = recordings[0]  # every entry of a cache has the same preprocessing
        if detector.check_input(first.ch_names, first.sfreq, str(cache)) is not None:
            raise ValueError(
                f"{cache}: channels in another order than the checkpoint's "
                f"({', '.join(detector.input.channels or [])}); rebuild the cache"
            )
    return recordings_from_cache(recordings, limit)


def run(args: argparse.Namespace) -> int:
    import torch

    from eegssm.commands.detect import merge_label_maps
    from eegssm.detection import Detector
    from eegssm.evaluation import evaluate

    if args.threads:
        torch.set_num_threads(args.threads)
    detector = Detector.from_checkpoint(args.checkpoint, args.device, args.batch_size)
    if (args.data / "manifest.json").is_file():
        recordings = recordings_from_split(
            args.data, args.split, args.fraction_seed, args.max_recordings, detector
        )
    elif args.data.is_dir():
        label_map = merge_label_maps(args.label_map)
        recordings = recordings_from_folder(args.data, detector, args.max_recordings, label_map)
    else:
        print(f"error: {args.data}: not a cache or a folder of EDF files", file=sys.stderr)
        return 2
    result = evaluate(
        detector, recordings, args.split, args.out, args.fa_per_24h, progress=not args.quiet
    )
    print((args.out / "report.md").read_text())
    print(f"wrote {args.out}/ (scores.json, report.md, curve.png, calibration.png, ref/, hyp/)")
    return 0 if result["recordings"] else 1
