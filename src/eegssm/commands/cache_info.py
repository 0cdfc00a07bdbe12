"""``eegssm cache-info CACHE``: what a cache holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eegssm.commands._args import HelpFormatter

DESCRIPTION = """\
Summarise a cache built by `eegssm build-cache`: recordings, hours, seizure ratio (seizure
seconds / total seconds), size on disk, windows per class (none / partial / full seizure) for
the preset's window and stride (or --window-s / --stride-s), subjects, splits, and the
recordings that failed with their reasons.
"""

EPILOG = """\
examples:
  eegssm cache-info cache/tusz-seizure
  eegssm cache-info cache/tusz-seizure --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cache-info",
        help="summarise a cache (hours, seizure ratio, size, windows per class, failures)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument("cache_dir", metavar="CACHE", type=Path, help="cache folder")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--max-subjects", type=int, default=20, metavar="N", help="list at most N subject ids"
    )
    p.add_argument(
        "--window-s", type=float, default=None, metavar="S",
        help="count windows of S seconds (default: the preset's window)",
    )  # fmt: skip
    p.add_argument(
        "--stride-s", type=float, default=None, metavar="S",
        help="window stride in seconds (default: the preset's stride for its window, else the "
        "window)",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eegssm.data.manifest import Manifest, summarize

    try:
        manifest = Manifest.load(args.cache_dir)
        stride = args.stride_s
        if stride is None and args.window_s is not None:
            preset = manifest.header.get("config", {})
            stride = preset.get("stride_s") if args.window_s == preset.get("window_s") else None
            stride = stride or args.window_s
        info = summarize(manifest, args.window_s, stride)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_text(info, args.max_subjects))
    return 0


def format_text(info: dict, max_subjects: int = 20) -> str:
    """Human-readable lines for :func:`eegssm.data.manifest.summarize`'s output."""
    per_class = info["windows_per_class"]
    total = max(1, info["windows"])
    subjects = info["subjects"]
    shown = ", ".join(subjects[:max_subjects]) + (" ..." if len(subjects) > max_subjects else "")
    rate = f"{info['sfreq']:g} Hz" if info["sfreq"] else "-"
    lines = [
        f"cache:       {info['cache_dir']}",
        f"preset:      {info['preset']} ({info['preset_hash']}), {info['n_channels']} channels "
        f"at {rate}, stored as {info['dtype']}",
        f"recordings:  {info['recordings']} cached, {info['failed']} failed",
        f"hours:       {info['hours']:.3f} h",
        f"size:        {info['bytes'] / 2**20:.1f} MiB ({info['bytes_vs_float32']:.3f}x the "
        "float32 signal)",
        f"seizure:     {info['seizure_hours']:.3f} h (ratio {info['seizure_ratio']:.4f})",
        f"windows:     {info['windows']} of {info['window_s']:g} s every {info['stride_s']:g} s: "
        + ", ".join(f"{k} {v} ({100 * v / total:.1f} %)" for k, v in per_class.items()),
        f"subjects:    {info['n_subjects']}: {shown}",
    ]
    if any(k != "-" for k in info["splits"]):
        for name, s in info["splits"].items():
            lines.append(
                f"  split {name:<6} {s['recordings']} recordings, {s['hours']:.3f} h, "
                f"{s['subjects']} subjects"
            )
    if info["failures"]:
        lines.append(f"failed ({len(info['failures'])}):")
        for f in info["failures"]:
            lines.append(f"  {f['source']}: {f['reason']}")
    return "\n".join(lines)
