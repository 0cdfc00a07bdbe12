"""``eegssm info PATH``: channels, rate, duration and events of a recording or annotation file."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

DESCRIPTION = """\
Show what a recording or annotation file contains.

PATH is one of:
  * an EDF, EDF+ or BDF recording: format, start time, duration, sampling rate (and the native
    rate of any signal that was resampled), the EEG channels kept, the non-EEG channels dropped,
    and the EDF+ annotations;
  * a TUSZ .csv_bi or multi-class .csv file, or a BIDS/SzCORE *_events.tsv: its events.

Problems in the file (truncated data, flat or NaN channels, events past the end) are printed as
warnings on stderr; an unreadable file prints an error naming the file and exits with status 1.
"""

EPILOG = """\
examples:
  eegssm info Subject00_1.edf
  eegssm info S001R03.edf --all-channels --max-events 5
  eegssm info aaaaaajy_s001_t000.csv_bi
  eegssm info rec.edf --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="show channels, rate, duration and events of a recording or annotation file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("path", metavar="PATH", type=Path, help="EDF/EDF+/BDF, .csv_bi, .csv or .tsv")
    p.add_argument(
        "--all-channels",
        action="store_true",
        help="keep non-EEG channels (ECG, EOG, EMG, photic, markers...) instead of dropping them",
    )
    p.add_argument(
        "--max-events",
        type=int,
        default=50,
        metavar="N",
        help="list at most N events (default: 50; 0 lists none, -1 lists all)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eegssm.io.errors import EEGReadError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            info = describe(args.path, keep_all=args.all_channels)
        except EEGReadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    for message in dict.fromkeys(str(w.message) for w in caught):  # header is read twice
        print(f"warning: {message}", file=sys.stderr)
    if args.max_events >= 0:
        info["events_shown"] = info["events"][: args.max_events]
    else:
        info["events_shown"] = info["events"]
    if args.json:
        info.pop("events_shown")
        print(json.dumps(info, indent=2))
    else:
        print(format_text(info))
    return 0


def describe(path: Path, keep_all: bool = False) -> dict:
    """A JSON-ready summary of a recording or annotation file (times in seconds)."""
    name = path.name.lower()
    if name.endswith((".csv_bi", ".csv", ".tsv")):
        return _describe_annotations(path)
    from eegssm.io import open_recording
    from eegssm.io.edf_header import read_edf_header

    # never the whole signal in memory: the header, the annotations, then the samples block by
    # block for the flat / NaN warnings (a 2 GB file stays far below 500 MB)
    rec = open_recording(path, drop_non_eeg=not keep_all)
    rec.check_values()
    header = read_edf_header(path)
    kept = set(rec.meta.get("native_sfreq", {}))
    dropped = [
        lbl
        for lbl in header.labels
        if lbl not in kept and lbl not in ("EDF Annotations", "BDF Annotations")
    ]
    resampled = {
        ch: rate for ch, rate in rec.meta.get("native_sfreq", {}).items() if rate != rec.sfreq
    }
    return {
        "path": str(path),
        "kind": "recording",
        "format": rec.meta.get("format"),
        "start_time": rec.meta.get("start_time"),
        "subject": rec.meta.get("subject"),
        "duration_s": rec.duration,
        "sfreq_hz": rec.sfreq,
        "n_times": rec.n_times,
        "channels": rec.ch_names,
        "dropped_channels": [] if keep_all else dropped,
        "resampled_channels_hz": resampled,
        "gaps_s": rec.meta.get("gaps", []),
        "events": [_event(ev) for ev in rec.events],
    }


def _describe_annotations(path: Path) -> dict:
    from eegssm.io.annotations import read_bids_events, read_csv_bi, read_tusz_csv

    name = path.name.lower()
    if name.endswith(".tsv"):
        bids = read_bids_events(path)
        events, duration, fmt = bids.events, bids.recording_duration, "BIDS events.tsv"
    else:
        reader = read_csv_bi if name.endswith(".csv_bi") else read_tusz_csv
        parsed = reader(path)
        events, duration = parsed.events, parsed.duration
        fmt = f"TUSZ {'csv_bi' if name.endswith('.csv_bi') else 'csv'} ({parsed.version})"
    return {
        "path": str(path),
        "kind": "annotations",
        "format": fmt,
        "duration_s": duration,
        "channels": sorted({ev.channel for ev in events}),
        "events": [_event(ev) for ev in events],
    }


def _event(ev) -> dict:
    return {
        "start": ev.start,
        "stop": ev.stop,
        "label": ev.label,
        "channel": ev.channel,
        "confidence": ev.confidence,
    }


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{seconds:.3f} s ({int(h)}:{int(m):02d}:{s:06.3f})"


def format_text(info: dict) -> str:
    """Human-readable lines for :func:`describe`'s summary."""
    lines = [f"file:      {info['path']}", f"format:    {info['format']}"]
    if info["kind"] == "recording":
        lines += [
            f"start:     {info['start_time'] or 'unknown'}",
            f"subject:   {info['subject'] or 'unknown'}",
            f"duration:  {_clock(info['duration_s'])}, {info['n_times']} samples",
            f"rate:      {info['sfreq_hz']:g} Hz",
        ]
        for ch, rate in info["resampled_channels_hz"].items():
            lines.append(f"           {ch}: recorded at {rate:g} Hz, resampled")
        lines.append(f"channels ({len(info['channels'])}): {', '.join(info['channels'])}")
        if info.get("gaps_s"):
            gaps = info["gaps_s"]
            total = sum(b - a for a, b in gaps)
            lines.append(f"gaps:      {len(gaps)} (EDF+D pauses, {total:.3f} s, filled with zeros)")
        if info["dropped_channels"]:
            dropped = info["dropped_channels"]
            lines.append(f"dropped non-EEG ({len(dropped)}): {', '.join(dropped)}")
    else:
        lines.append(f"duration:  {_clock(info['duration_s'])}")
        lines.append(f"channels ({len(info['channels'])}): {', '.join(info['channels'])}")
    events, shown = info["events"], info.get("events_shown", info["events"])
    lines.append(f"events ({len(events)}):")
    if shown:
        lines.append(f"  {'start_s':>10}  {'stop_s':>10}  {'label':<12} {'channel':<10} conf")
        for ev in shown:
            lines.append(
                f"  {ev['start']:10.3f}  {ev['stop']:10.3f}  {ev['label']:<12} "
                f"{ev['channel']:<10} {ev['confidence']:.2f}"
            )
    if len(shown) < len(events):
        lines.append(f"  ... {len(events) - len(shown)} more (use --max-events -1 to list all)")
    return "\n".join(lines)
