"""``eegssm build-cache``: preprocess a corpus once into a cache of continuous arrays."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from eegssm.commands._args import HelpFormatter, add_quiet, add_workers

DESCRIPTION = """\
Preprocess every EDF/BDF under DATA (montage, resampling, filtering) and store each recording
once as a continuous memory-mapped array (CACHE/arrays/<key>.signal.npy, (C, T) float32 or
float16) with per-sample seizure labels (<key>.labels.npy, (T,) uint8), plus
CACHE/manifest.json (subject, session, split, duration, rate, montage, events, normalisation
statistics, source path and sha256 per recording). Windows of any length and stride are cut
when training or evaluation reads them: no rebuild for a new window.

Annotations are taken from the EDF+ annotations and from files beside each recording:
<stem>.csv_bi (TUSZ), <stem>_events.tsv (BIDS), chbNN-summary.txt (CHB-MIT) and
Seizures-list-*.txt (Siena). Subjects and TUSZ splits (train/dev/eval) come from the paths.

The build is resumable (re-running skips recordings already cached with the same preset, source
size and modification time) and atomic (an interrupted run leaves no partial entry). Files that
cannot be read are skipped and listed in the manifest with the reason (exit status 0); a write
error (disk full, no permission) stops the build with exit status 1 and leaves no partial file.
Memory: one recording per worker (recordings over ~2 h are preprocessed in ~29-min blocks).

Large corpora: --shard K/N builds part K of N (parts are disjoint), so N jobs of a Slurm array
build into the same CACHE side by side; the last one to finish writes manifest.json (or run
--merge once they are all done).
"""

EPILOG = """\
examples:
  eegssm build-cache --data-dir tusz/v2.0.3 --cache-dir cache/tusz-seizure --workers 8
  eegssm build-cache --data-dir eegmat --cache-dir cache/eegmat-eegm2 --preset eegm2
  eegssm build-cache --data-dir chbmit --cache-dir cache/chbmit --montage chbmit18
  eegssm build-cache --data-dir tusz/v2.0.3 --cache-dir cache/tusz \\
      --shard ${SLURM_ARRAY_TASK_ID}/16 --workers ${SLURM_CPUS_PER_TASK} --no-progress
  eegssm build-cache --merge --cache-dir cache/tusz
  eegssm cache-info cache/tusz-seizure
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "build-cache",
        help="preprocess a corpus once into a cache of continuous arrays (resumable, parallel, "
        "sharded)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "--data-dir", type=Path, metavar="DATA", help="corpus folder (required unless --merge)"
    )
    p.add_argument("--cache-dir", required=True, type=Path, metavar="CACHE", help="output folder")
    p.add_argument(
        "--preset",
        default="seizure",
        choices=["seizure", "eegm2"],
        help="preprocessing preset (seizure = 19 ch, 256 Hz, 0.5-120 Hz, 60 Hz notch, z-score;"
        " eegm2 = 19 ch, 128 Hz, p95 scaling) (default: %(default)s)",
    )
    p.add_argument(
        "--montage",
        default=None,
        metavar="NAME",
        help="override the preset's montage: ref19 (default), tcp, chbmit18, chbmit23 (CHB-MIT's "
        "bipolar recordings), as_is",
    )
    p.add_argument(
        "--dtype",
        default="float32",
        choices=["float32", "float16"],
        help="storage of the signal (float16 halves the size at ~5e-4 relative precision) "
        "(default: %(default)s)",
    )
    add_workers(
        p,
        max(1, min(8, (os.cpu_count() or 2) - 1)),
        "worker processes (default: CPUs - 1, at most 8; 1 = no subprocesses)",
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="build only part K of N (1 <= K <= N; e.g. ${SLURM_ARRAY_TASK_ID}/16 in a Slurm "
        "array); default: everything",
    )
    p.add_argument(
        "--merge",
        action="store_true",
        help="write CACHE/manifest.json from the finished shards (no building)",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="also retry recordings that failed before"
    )
    add_quiet(p)
    p.add_argument("-v", "--verbose", action="store_true", help="log every skipped/failed file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eegssm.data.cache import CacheWriteError, build_cache, merge_shards

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
    )
    try:
        if args.merge:
            manifest = merge_shards(args.cache_dir)
            print(
                f"{args.cache_dir}/manifest.json: {len(manifest.recordings)} recordings, "
                f"{len(manifest.failed)} failed, from {manifest.header['shards']} shards"
            )
            return 0
        if args.data_dir is None:
            print("error: --data-dir DATA is required (unless --merge)", file=sys.stderr)
            return 2
        report = build_cache(
            args.data_dir,
            args.cache_dir,
            preset=args.preset,
            overrides={"montage": args.montage} if args.montage else None,
            workers=args.workers,
            retry_failed=args.retry_failed,
            progress=not args.quiet,
            shard=args.shard,
            dtype=args.dtype,
        )
    except CacheWriteError as exc:
        print(f"error: {exc}; the build stopped (finished recordings stay cached)", file=sys.stderr)
        return 1
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report.summary())
    if report.n_found == 0 and report.shard is None:
        print(f"error: no .edf/.bdf file under {args.data_dir}", file=sys.stderr)
        return 1
    if report.failed:
        print(f"{len(report.failed)} failed (see `eegssm cache-info {args.cache_dir}`)")
    if report.shard is not None:
        if report.merged:
            print(f"all shards finished: wrote {args.cache_dir}/manifest.json")
        else:
            print(
                f"wrote {args.cache_dir}/shards/{report.shard[0]}-of-{report.shard[1]}.json; "
                "manifest.json is written when the last shard finishes"
            )
    return 0
