"""``eegssm build-cache``: preprocess a corpus into a memory-mapped window cache."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from eegssm.commands._args import HelpFormatter, add_quiet, add_workers

DESCRIPTION = """\
Preprocess every EDF/BDF under DATA into windows and store them as memory-mapped .npy files
(signals (N, C, W) float32, labels (N, W) uint8, mask (N, W) bool) plus CACHE/manifest.json.

Annotations are taken from the EDF+ annotations and from files beside each recording:
<stem>.csv_bi (TUSZ), <stem>_events.tsv (BIDS), chbNN-summary.txt (CHB-MIT) and
Seizures-list-*.txt (Siena). Subjects and TUSZ splits (train/dev/eval) come from the paths.

The build is resumable (re-running skips recordings already cached with the same preset, source
size and modification time) and atomic (an interrupted run leaves no partial entry). Files that
cannot be read are listed in the manifest with the reason; `eegssm cache-info CACHE` shows them.
"""

EPILOG = """\
examples:
  eegssm build-cache --data-dir tusz/v2.0.3 --cache-dir cache/tusz-seizure --workers 8
  eegssm build-cache --data-dir eegmat --cache-dir cache/eegmat-eegm2 --preset eegm2
  eegssm build-cache --data-dir chbmit --cache-dir cache/chbmit --montage chbmit18
  eegssm cache-info cache/tusz-seizure
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "build-cache",
        help="preprocess a corpus into a memory-mapped window cache (resumable, parallel)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("--data-dir", required=True, type=Path, metavar="DATA", help="corpus folder")
    p.add_argument("--cache-dir", required=True, type=Path, metavar="CACHE", help="output folder")
    p.add_argument(
        "--preset",
        default="seizure",
        choices=["seizure", "eegm2"],
        help="preprocessing preset (seizure = 19 ch, 256 Hz, 60 s windows, 10 s stride;"
        " eegm2 = 19 ch, 128 Hz, 10 s windows) (default: %(default)s)",
    )
    p.add_argument(
        "--montage",
        default=None,
        metavar="NAME",
        help="override the preset's montage: ref19 (default), tcp, chbmit18, chbmit23 (CHB-MIT's "
        "bipolar recordings), as_is",
    )
    add_workers(
        p,
        max(1, min(8, (os.cpu_count() or 2) - 1)),
        "worker processes (default: CPUs - 1, at most 8; 1 = no subprocesses)",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="also retry recordings that failed before"
    )
    add_quiet(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log every skipped/failed file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eegssm.data.cache import build_cache

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    try:
        report = build_cache(
            args.data_dir,
            args.cache_dir,
            preset=args.preset,
            overrides={"montage": args.montage} if args.montage else None,
            workers=args.workers,
            retry_failed=args.retry_failed,
            progress=not args.quiet,
        )
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    if report.n_found == 0:
        print(f"error: no .edf/.bdf file under {args.data_dir}", file=sys.stderr)
        return 1
    if report.failed:
        print(f"{len(report.failed)} failed (see `eegssm cache-info {args.cache_dir}`)")
    return 0
