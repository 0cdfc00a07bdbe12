"""``eegssm score REF HYP``: score seizure annotations with NEDC methods and SzCORE."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from eegssm.commands._args import HelpFormatter, label_mapping

ANNOTATION_SUFFIXES = (".csv_bi", ".tsv")

DESCRIPTION = """\
Score hypothesis seizure annotations against a reference.

REF and HYP are each one of:
  * a list file (one annotation path per line; relative paths are resolved against the list
    file's folder, then the current folder),
  * a folder (its *.csv_bi files, or else its *.tsv files, sorted by name),
  * a single TUSZ .csv_bi file or BIDS events .tsv file.
Files are paired by position; the paired files must describe the same recording (same bname and
duration).

Labels must be known (seiz, bckg, TUSZ seizure types, HED-SCORE sz / sz_*): an unknown label
such as a "siez" typo is an error naming the file and line; --label-map siez=seiz maps it.

Methods: NEDC v6.0.0-compatible OVERLAP, TAES, EPOCH (0.25 s) and DPALIGN for the seizure class,
and SzCORE event/sample scoring (timescoring). FA rates use the summed reference durations;
EPOCH reports false-alarm seconds per 24 h.
"""


class ScoreInputError(ValueError):
    """A problem with the REF/HYP inputs, reported to the user without a traceback."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score",
        help="score seizure annotations (NEDC OVERLAP/TAES/EPOCH/DPALIGN, SzCORE)",
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
    )
    p.add_argument("ref", metavar="REF", help="reference: list file, folder, .csv_bi or .tsv")
    p.add_argument("hyp", metavar="HYP", help="hypothesis: list file, folder, .csv_bi or .tsv")
    p.add_argument(
        "--method",
        choices=["overlap", "taes", "epoch", "dpalign", "szcore", "all"],
        default="all",
        help="scoring method",
    )
    p.add_argument(
        "--label-map",
        type=label_mapping,
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="map labels before they are checked, e.g. siez=seiz (repeatable)",
    )
    p.add_argument(
        "--json",
        metavar="PATH",
        type=Path,
        help="write per-file and total results as JSON (layout of nedc_expected.json + SZCORE)",
    )
    p.set_defaults(func=run)


def _is_annotation(path: Path) -> bool:
    return path.name.endswith(ANNOTATION_SUFFIXES)


def expand(spec: str) -> list[Path]:
    """Annotation files named by a list file, a folder or a single annotation file."""
    path = Path(spec)
    if not path.exists():
        raise ScoreInputError(f"{spec}: no such file or folder")
    if path.is_dir():
        for suffix in ANNOTATION_SUFFIXES:
            files = sorted(f for f in path.iterdir() if f.name.endswith(suffix))
            if files:
                return files
        raise ScoreInputError(f"{spec}: folder has no .csv_bi or .tsv annotation files")
    if _is_annotation(path):
        return [path]
    from eegssm.io.annotations._text import excerpt, read_text

    what = "a list file (one .csv_bi or .tsv path per line)"
    files = []
    for lineno, line in enumerate(read_text(path, what).splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if not _is_annotation(Path(entry)):  # not quoted: the file may be anything
            raise ScoreInputError(
                f"{spec}, line {lineno}: not the path of a .csv_bi or .tsv file; REF and HYP "
                "must be annotation files, folders of them, or list files of their paths"
            )
        cand = Path(entry)
        if not cand.is_absolute() and (path.parent / cand).exists():
            cand = path.parent / cand
        if not cand.exists():
            raise ScoreInputError(
                f"{spec}, line {lineno}: annotation file not found: {excerpt(entry, 200)}"
            )
        files.append(cand)
    if not files:
        raise ScoreInputError(f"{spec}: list file names no annotation files")
    return files


def load_track(path: Path, label_map: dict[str, str] | None = None):
    """Read one annotation file into a :class:`~eegssm.scoring.SeizureTrack`."""
    from eegssm.scoring import seizure_track

    if path.name.endswith(".tsv"):
        try:
            from eegssm.io.annotations.bids import read_bids_events
        except ImportError as err:  # pragma: no cover - depends on the io package version
            raise ScoreInputError(f"{path}: BIDS events.tsv reading is not available") from err
        bids = read_bids_events(path, label_map)
        if bids.recording_duration is None:
            raise ScoreInputError(
                f"{path}: no recordingDuration column; the recording duration is needed to score"
            )
        name = path.name[: -len(".tsv")].removesuffix("_events")
        return seizure_track(bids.events, bids.recording_duration, name)
    from eegssm.io.annotations import read_csv_bi

    f = read_csv_bi(path, label_map)
    return seizure_track(f.events, f.duration, f.bname or path.name.split(".")[0])


def load_pairs(ref_spec: str, hyp_spec: str, label_map: dict[str, str] | None = None):
    """Paired ``(ref, hyp)`` tracks; raises :class:`ScoreInputError` on mismatches."""
    refs, hyps = expand(ref_spec), expand(hyp_spec)
    if len(refs) != len(hyps):
        raise ScoreInputError(
            f"REF names {len(refs)} files but HYP names {len(hyps)}; files are paired by position"
        )
    pairs = []
    for i, (rp, hp) in enumerate(zip(refs, hyps), 1):
        ref, hyp = load_track(rp, label_map), load_track(hp, label_map)
        if ref.name != hyp.name:
            raise ScoreInputError(
                f"pair {i}: ref {rp} is {ref.name!r} but hyp {hp} is {hyp.name!r}; "
                "check that both lists are in the same order"
            )
        pairs.append((ref, hyp))
    return pairs


def run(args: argparse.Namespace) -> int:
    from eegssm.io.errors import EEGReadError
    from eegssm.scoring import format_summary, score_pairs

    try:
        label_map: dict[str, str] = {}
        for item in args.label_map:
            label_map.update(item)
        pairs = load_pairs(args.ref, args.hyp, label_map)
        report = score_pairs(pairs, [args.method])
    except (ScoreInputError, EEGReadError, ValueError) as err:
        print(f"eegssm score: error: {err}", file=sys.stderr)
        return 2
    print(format_summary(report), end="")
    if args.json is not None:
        from eegssm import atomic

        atomic.write_text(args.json, json.dumps(report.to_json(), indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
