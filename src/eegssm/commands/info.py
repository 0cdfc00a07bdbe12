"""``eegssm info PATH``: channels, rate, duration and events of a recording or annotation file."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from eegssm.commands._args import HelpFormatter, label_mapping

DESCRIPTION = """\
Show what a recording or annotation file contains.

PATH is one of:
  * an EDF, EDF+ or BDF recording: format, start time, duration, sampling rate (and the native
    rate of any signal that was resampled), the EEG channels kept, the non-EEG channels dropped,
    the EDF+ annotations, and the seizures listed for it in annotation files beside it (csv_bi,
    events.tsv, CHB-MIT summary, Siena list);
  * a TUSZ .csv_bi or multi-class .csv file, or a BIDS/SzCORE *_events.tsv: its events;
  * a CHB-MIT chbNN-summary.txt or a Siena Seizures-list-PNxx.txt: rate, channels, and every
    file listed with its times and seizures.

Reference labels must be known (seiz, bckg, TUSZ seizure types, HED-SCORE sz, sz_*): an
unknown one (a "siez" typo) is an error naming the file and line; --label-map siez=seiz maps it.

Problems in the file (truncated data, flat or NaN channels, events past the end) are printed as
warnings on stderr; an unreadable file prints an error naming the file and exits with status 1.
"""

EPILOG = """\
examples:
  eegssm info Subject00_1.edf
  eegssm info S001R03.edf --all-channels --max-events 5
  eegssm info aaaaaajy_s001_t000.csv_bi
  eegssm info chb05-summary.txt
  eegssm info Seizures-list-PN00.txt
  eegssm info rec.edf --json
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="show channels, rate, duration and events of a recording or annotation file",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    p.add_argument(
        "path",
        metavar="PATH",
        type=Path,
        help="EDF/EDF+/BDF, .csv_bi, .csv, .tsv, *-summary.txt or Seizures-list-*.txt",
    )
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
    p.add_argument(
        "--label-map",
        type=label_mapping,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="map labels of annotation files, e.g. siez=seiz (repeatable)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eegssm.io.errors import EEGReadError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            label_map: dict[str, str] = {}
            for item in args.label_map:
                label_map.update(item)
            info = describe(args.path, keep_all=args.all_channels, label_map=label_map)
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


def describe(path: Path, keep_all: bool = False, label_map: dict | None = None) -> dict:
    """A JSON-ready summary of a recording or annotation file (times in seconds)."""
    name = path.name.lower()
    if name.endswith((".csv_bi", ".csv", ".tsv")):
        return _describe_annotations(path, label_map)
    siena = name.startswith("seizures-list") and name.endswith(".txt")
    if name.endswith("-summary.txt") or siena:
        return _describe_list(path)
    if name.endswith(".txt"):
        from eegssm.io.errors import EEGReadError

        raise EEGReadError(
            path,
            "not a known annotation list",
            "info reads CHB-MIT chbNN-summary.txt and Siena Seizures-list-PNxx.txt files",
        )
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
        **_sidecars(path, label_map),
    }


def _sidecars(path: Path, label_map: dict | None) -> dict:
    """Seizures listed for a recording in annotation files beside it."""
    from eegssm.data.discovery import sidecar_annotations

    found = sidecar_annotations(path, label_map)
    if not found.sources:
        return {}
    return {
        "annotation_files": found.sources,
        "annotation_notes": found.notes,
        "annotation_events": [_event(ev) for ev in found.events],
    }


def _describe_list(path: Path) -> dict:
    """A CHB-MIT summary or Siena seizure list: rate, channels, files and their seizures."""
    from eegssm.io.annotations import read_chbmit_summary, read_siena_seizures

    if path.name.lower().endswith("-summary.txt"):
        parsed, fmt = read_chbmit_summary(path), "CHB-MIT summary"
    else:
        parsed, fmt = read_siena_seizures(path), "Siena seizure list"
    files, events = [], []
    for name, f in parsed.files.items():
        files.append({"file": name, "duration_s": f.duration, "seizures": len(f.events)})
        events += [dict(_event(ev), file=name) for ev in f.events]
    return {
        "path": str(path),
        "kind": "annotation list",
        "format": fmt,
        "sfreq_hz": parsed.sfreq,
        "channels": list(parsed.channels),
        "files": files,
        "events": events,
    }


def _describe_annotations(path: Path, label_map: dict | None = None) -> dict:
    from eegssm.io.annotations import read_bids_events, read_csv_bi, read_tusz_csv

    name = path.name.lower()
    if name.endswith(".tsv"):
        bids = read_bids_events(path, label_map)
        events, duration, fmt = bids.events, bids.recording_duration, "BIDS events.tsv"
    else:
        reader = read_csv_bi if name.endswith(".csv_bi") else read_tusz_csv
        parsed = reader(path, label_map)
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
    elif info["kind"] == "annotation list":
        rate = info["sfreq_hz"]
        lines.append(f"rate:      {f'{rate:g} Hz' if rate else 'unknown'}")
        lines.append(f"channels ({len(info['channels'])}): {', '.join(info['channels'])}")
        lines.append(f"files ({len(info['files'])}):")
        for f in info["files"]:
            lines.append(f"  {f['file']:<24} {_clock(f['duration_s'])}, {f['seizures']} seizure(s)")
    else:
        lines.append(f"duration:  {_clock(info['duration_s'])}")
        lines.append(f"channels ({len(info['channels'])}): {', '.join(info['channels'])}")
    events, shown = info["events"], info.get("events_shown", info["events"])
    lines.append(f"events ({len(events)}):")
    if shown:
        where = "file" if info["kind"] == "annotation list" else "channel"
        lines.append(f"  {'start_s':>10}  {'stop_s':>10}  {'label':<12} {where:<10} conf")
        for ev in shown:
            lines.append(
                f"  {ev['start']:10.3f}  {ev['stop']:10.3f}  {ev['label']:<12} "
                f"{ev.get(where, ev['channel']):<10} {ev['confidence']:.2f}"
            )
    if len(shown) < len(events):
        lines.append(f"  ... {len(events) - len(shown)} more (use --max-events -1 to list all)")
    if info.get("annotation_files"):
        lines.append(f"annotation files beside it: {', '.join(info['annotation_files'])}")
        for note in info.get("annotation_notes", []):
            lines.append(f"  note: {note}")
        for ev in info["annotation_events"]:
            lines.append(f"  {ev['start']:10.3f}  {ev['stop']:10.3f}  {ev['label']}")
    return "\n".join(lines)
