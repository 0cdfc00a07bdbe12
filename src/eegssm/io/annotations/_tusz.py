"""The TUSZ ``csv_v1.0.0`` annotation layout shared by ``.csv_bi`` and ``.csv`` files.

::

    # version = csv_v1.0.0
    # bname = aaaaaaac_s001_t000
    # duration = 301.0000 secs
    # montage_file = nedc_eas_default_montage.txt
    #
    channel,start_time,stop_time,label,confidence
    TERM,36.8868,183.3055,seiz,1.0000

Times are seconds from the start of the recording, written with 4 decimals, as is the
confidence. ``.csv_bi`` files have ``TERM`` rows (whole recording); ``.csv`` files have one row
per montage channel (``FP1-F7``, ...).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from eegssm.io.annotations._text import excerpt, read_text
from eegssm.io.annotations.labels import check_label
from eegssm.io.errors import EEGReadError, warn
from eegssm.io.types import Event

VERSION = "csv_v1.0.0"
DEFAULT_MONTAGE_FILE = "nedc_eas_default_montage.txt"
COLUMNS = ("channel", "start_time", "stop_time", "label", "confidence")
#: Slack (seconds) allowed when checking that events end inside the recording (4-decimal times).
DURATION_TOLERANCE = 1e-3


@dataclass
class TuszFile:
    """Contents of one TUSZ csv / csv_bi annotation file.

    Attributes:
        events: rows in file order (seconds; labels lower-case).
        duration: recording duration in seconds (``# duration`` line).
        bname: base name of the recording (``# bname`` line, the file stem).
        montage_file: the ``# montage_file`` line.
        version: the ``# version`` line (``csv_v1.0.0``).
    """

    events: list[Event] = field(default_factory=list)
    duration: float = 0.0
    bname: str = ""
    montage_file: str = DEFAULT_MONTAGE_FILE
    version: str = VERSION


def parse_tusz(
    path: str | PathLike, text: str | None = None, label_map: dict[str, str] | None = None
) -> TuszFile:
    """Parse a TUSZ csv / csv_bi file; raise :class:`EEGReadError` naming the line at fault
    (unknown labels included, after ``label_map``: see :func:`labels.check_label`)."""
    path = Path(path)
    if text is None:
        text = read_text(path, "a TUSZ csv_v1.0.0 annotation file")
    if not text.strip():
        raise EEGReadError(path, "annotation file is empty", "expected a TUSZ csv_v1.0.0 file")

    meta: dict[str, str] = {}
    rows: list[tuple[int, str]] = []
    header_seen = False
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            if sep:
                meta[key.strip().lower()] = value.strip()
            continue
        if not header_seen:
            columns = tuple(c.strip().lower() for c in line.split(","))
            if columns != COLUMNS:  # the line is not quoted: the file may not be ours to show
                raise EEGReadError(
                    path,
                    f"line {lineno} is not the header {','.join(COLUMNS)!r}",
                    "is this a TUSZ csv_v1.0.0 file?",
                )
            header_seen = True
            continue
        rows.append((lineno, line))
    if not header_seen:
        raise EEGReadError(path, f"no '{','.join(COLUMNS)}' header line found")

    duration = _parse_duration(path, meta.get("duration"))
    events = [_parse_row(path, lineno, line, label_map) for lineno, line in rows]
    for ev in events:
        if ev.stop > duration + DURATION_TOLERANCE:
            warn(
                path,
                f"event {ev.label} {ev.start:.4f}-{ev.stop:.4f} s on {ev.channel} ends after "
                f"the recording duration {duration:.4f} s",
            )
    return TuszFile(
        events=events,
        duration=duration,
        bname=meta.get("bname", path.stem),
        montage_file=meta.get("montage_file", DEFAULT_MONTAGE_FILE),
        version=meta.get("version", VERSION),
    )


def _parse_duration(path: Path, value: str | None) -> float:
    if value is None:
        raise EEGReadError(path, "missing '# duration = <seconds> secs' header line")
    number = value.split()[0] if value.split() else ""
    try:
        duration = float(number)
    except ValueError:
        raise EEGReadError(path, f"duration {value!r} is not a number of seconds") from None
    if not (math.isfinite(duration) and duration >= 0):
        raise EEGReadError(path, f"duration must be a finite number >= 0, got {value!r}")
    return duration


def _parse_row(
    path: Path, lineno: int, line: str, label_map: dict[str, str] | None = None
) -> Event:
    parts = [p.strip() for p in line.split(",")]
    if len(parts) != len(COLUMNS):
        raise EEGReadError(
            path,
            f"line {lineno}: expected {len(COLUMNS)} comma-separated fields, got "
            f"{len(parts)}: {excerpt(line)}",
        )
    channel, start_s, stop_s, label, conf_s = parts
    try:
        start, stop, confidence = float(start_s), float(stop_s), float(conf_s)
    except ValueError:
        raise EEGReadError(
            path,
            f"line {lineno}: start, stop and confidence must be numbers, got {excerpt(line)}",
        ) from None
    if not all(math.isfinite(v) for v in (start, stop, confidence)):
        raise EEGReadError(path, f"line {lineno}: non-finite number in {excerpt(line)}")
    if start < 0:
        raise EEGReadError(path, f"line {lineno}: negative start time {start}")
    if stop < start:
        raise EEGReadError(
            path,
            f"line {lineno}: stop_time {stop} is before start_time {start}",
            "fix or remove the row",
        )
    if not 0.0 <= confidence <= 1.0:
        raise EEGReadError(path, f"line {lineno}: confidence {confidence} is outside [0, 1]")
    return Event(start, stop, check_label(label, path, lineno, label_map), channel, confidence)


def format_tusz(
    events: list[Event], duration: float, bname: str, montage_file: str, version: str = VERSION
) -> str:
    """Text of a TUSZ csv / csv_bi file (``\\n`` line ends, 4-decimal times and confidence).

    Raises:
        ValueError: ``bname``, ``montage_file`` or ``version`` holding a control character (a
            newline would end the header line), or a label or channel holding a comma or a
            control character (either would split the row). Use
            :func:`eegssm.data.discovery.safe_stem` for names taken from file names.
    """
    for what, value in (("bname", bname), ("montage_file", montage_file), ("version", version)):
        if _unsafe(value):
            raise ValueError(f"csv_bi {what} {value!r} holds a control character")
    lines = [
        f"# version = {version}",
        f"# bname = {bname}",
        f"# duration = {duration:.4f} secs",
        f"# montage_file = {montage_file}",
        "#",
        ",".join(COLUMNS),
    ]
    for ev in events:
        if ev.stop < ev.start:
            raise ValueError(f"event stop {ev.stop} is before its start {ev.start}: {ev}")
        if _unsafe(ev.channel, ",") or _unsafe(ev.label, ","):
            raise ValueError(f"a comma or control character in the channel or label of {ev}")
        lines.append(f"{ev.channel},{ev.start:.4f},{ev.stop:.4f},{ev.label},{ev.confidence:.4f}")
    return "\n".join(lines) + "\n"


def _unsafe(text: str, also: str = "") -> bool:
    """Whether ``text`` holds a control character (or one of ``also``)."""
    return any(ord(c) < 32 or ord(c) == 127 or c in also for c in str(text))
