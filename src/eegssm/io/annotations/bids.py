"""BIDS ``*_events.tsv`` with the SzCORE / HED-SCORE columns, read and write.

Columns (tab-separated, ``n/a`` for missing values), as used by SzCORE and ``epilepsy2bids``,
then BIDS's ``trial_type`` (what MNE-BIDS turns into annotation descriptions; the same value as
``eventType``)::

    onset  duration  eventType  confidence  channels  dateTime  recordingDuration  trial_type

``onset``/``duration``/``recordingDuration`` in seconds; ``eventType`` ``sz`` (or a HED-SCORE
subtype ``sz_foc_ia``, ...) or ``bckg``; ``confidence`` in [0, 1]; ``channels`` comma-separated
names; ``dateTime`` ``YYYY-MM-DD HH:MM:SS`` of the recording start. A seizure-free recording is one
``bckg`` row spanning the recording.

TUSZ labels map to HED-SCORE types as in SzCORE's TUH converter (``fnsz`` → ``sz_foc``, ...) and
back, so TUSZ labels survive a round trip; other types are kept lower-cased.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from eegssm.io.annotations._text import excerpt, read_text
from eegssm.io.annotations.labels import BACKGROUND_LABEL, check_label
from eegssm.io.errors import EEGReadError, warn
from eegssm.io.types import TERM, Event

COLUMNS = (
    "onset",
    "duration",
    "eventType",
    "confidence",
    "channels",
    "dateTime",
    "recordingDuration",
)
#: The BIDS column written after the SzCORE ones (read back when ``eventType`` is absent).
TRIAL_TYPE = "trial_type"
NA = "n/a"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: TUSZ label → HED-SCORE event type (SzCORE's TUH mapping).
TUSZ_TO_HED = {
    "bckg": "bckg",
    "seiz": "sz",
    "fnsz": "sz_foc",
    "gnsz": "sz_gen",
    "spsz": "sz_foc_a",
    "cpsz": "sz_foc_ia",
    "absz": "sz_gen_nm",
    "tnsz": "sz_gen_m_tonic",
    "cnsz": "sz_gen_m_clonic",
    "tcsz": "sz_gen_m_tonicClonic",
    "atsz": "sz_gen_m_atonic",
    "mysz": "sz_gen_nm_myoclonic",
}
HED_TO_TUSZ = {hed.lower(): tusz for tusz, hed in TUSZ_TO_HED.items()}


@dataclass
class BidsEvents:
    """Contents of an events.tsv: ``events`` (seconds; TUSZ labels where a mapping exists),
    ``recording_duration`` (s or None), ``date_time`` (recording start or None)."""

    events: list[Event] = field(default_factory=list)
    recording_duration: float | None = None
    date_time: dt.datetime | None = None


def _float(path: Path, lineno: int, name: str, text: str, default: float | None) -> float | None:
    if text.strip() in ("", NA):
        return default
    try:
        value = float(text)
    except ValueError:
        raise EEGReadError(path, f"line {lineno}: {name} {excerpt(text)} is not a number") from None
    if not math.isfinite(value):
        raise EEGReadError(path, f"line {lineno}: {name} is not finite")
    return value


def read_bids_events(path: str | PathLike, label_map: dict[str, str] | None = None) -> BidsEvents:
    """Read an SzCORE / BIDS ``events.tsv``.

    Only ``onset``, ``duration`` and ``eventType`` are required; missing optional columns or
    ``n/a`` give confidence 1.0, channel ``TERM``, no date or duration. ``label_map``
    (lower-case old → new) is applied to ``eventType`` before it is checked.

    Raises:
        EEGReadError: missing required columns, non-numeric values, negative durations, bad
            dates, an unknown ``eventType`` (naming the line).

    Warns:
        EEGReadWarning: an event ending after ``recordingDuration``.
    """
    path = Path(path)
    text = read_text(path, "a BIDS events.tsv")
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    header = text.splitlines()[0].split("\t") if text.strip() else []
    missing = [c for c in ("onset", "duration", "eventType") if c not in header]
    if missing:
        # The columns found are shown only when the first line looks like a TSV header (the
        # file may be something else entirely, whose content is not ours to print).
        found = ", ".join(excerpt(c, 30) for c in header[:12]) if len(header) > 1 else ""
        raise EEGReadError(
            path,
            f"missing column(s) {', '.join(missing)}" + (f"; found {found}" if found else ""),
            "is this a tab-separated BIDS events.tsv?",
        )
    out = BidsEvents()
    for lineno, row in enumerate(rows, start=2):
        onset = _float(path, lineno, "onset", row["onset"] or "", None)
        length = _float(path, lineno, "duration", row["duration"] or "", 0.0)
        if onset is None:
            raise EEGReadError(path, f"line {lineno}: onset is n/a")
        if length < 0:
            raise EEGReadError(path, f"line {lineno}: negative duration {length}")
        conf = _float(path, lineno, "confidence", row.get("confidence") or NA, 1.0)
        channels = (row.get("channels") or NA).strip()
        event_type = check_label(row["eventType"] or BACKGROUND_LABEL, path, lineno, label_map)
        label = HED_TO_TUSZ.get(event_type, event_type)
        out.events.append(
            Event(onset, onset + length, label, TERM if channels in ("", NA) else channels, conf)
        )
        duration = _float(
            path, lineno, "recordingDuration", row.get("recordingDuration") or NA, None
        )
        if duration is not None:
            out.recording_duration = duration
        when = (row.get("dateTime") or NA).strip()
        if when not in ("", NA):
            try:
                out.date_time = dt.datetime.strptime(when, DATETIME_FORMAT)
            except ValueError:
                raise EEGReadError(
                    path, f"line {lineno}: dateTime {excerpt(when)} is not {DATETIME_FORMAT}"
                ) from None
    if out.recording_duration is not None:
        for ev in out.events:
            if ev.stop > out.recording_duration + 1e-3:
                warn(
                    path,
                    f"event {ev.label} {ev.start:g}-{ev.stop:g} s ends after the "
                    f"recording ({out.recording_duration:g} s)",
                )
    return out


def write_bids_events(
    path: str | PathLike,
    events: Iterable[Event],
    recording_duration: float,
    date_time: dt.datetime | str | None = None,
    decimals: int = 2,
) -> Path:
    """Write events (seconds) as an SzCORE / BIDS ``events.tsv``.

    Args:
        path: output file (``..._events.tsv``).
        events: events to write, in order; with none, one ``bckg`` row spans the recording.
        recording_duration: seconds.
        date_time: recording start (datetime or ISO string), or None (``n/a``).
        decimals: decimals for times and confidence (SzCORE writes 2).

    Returns:
        The path written (atomically: a temporary file renamed when complete).

    Raises:
        ValueError: a label or channel holding a tab, newline or other control character.
    """
    path = Path(path)
    events = list(events) or [Event(0.0, recording_duration, BACKGROUND_LABEL)]
    if isinstance(date_time, str):
        date_time = dt.datetime.fromisoformat(date_time)
    when = date_time.strftime(DATETIME_FORMAT) if date_time else NA
    lines = ["\t".join((*COLUMNS, TRIAL_TYPE))]
    for ev in events:
        if ev.stop < ev.start:
            raise ValueError(f"event stop {ev.stop} is before its start {ev.start}: {ev}")
        event_type = TUSZ_TO_HED.get(ev.label, ev.label)
        channels = NA if ev.channel == TERM else ev.channel
        if any(ord(c) < 32 or ord(c) == 127 for c in event_type + channels):
            raise ValueError(f"a tab, newline or control character in the label or channel of {ev}")
        lines.append(
            f"{ev.start:.{decimals}f}\t{ev.duration:.{decimals}f}\t{event_type}\t"
            f"{ev.confidence:.{decimals}f}\t{channels}\t{when}\t{recording_duration:.{decimals}f}"
            f"\t{event_type}"
        )
    from eegssm import atomic

    return atomic.write_text(path, "\n".join(lines) + "\n")
