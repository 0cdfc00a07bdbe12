"""CHB-MIT ``chbNN-summary.txt`` files: per-file start/end clock times and seizure seconds.

::

    Channel 1: FP1-F7            (channel list; "Channels changed:" starts a new one)
    File Name: chb08_02.edf
    File Start Time: 12:28:57    (hours may run past 24: "24:21:32")
    File End Time: 13:28:57
    Number of Seizures in File: 1
    Seizure 1 Start Time: 2670 seconds   (or "Seizure Start Time: ...")
    Seizure 1 End Time: 2841 seconds
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from eegssm.io.annotations._text import parse_number, read_text
from eegssm.io.errors import EEGReadError, warn
from eegssm.io.types import TERM, Event

_DAY = 24 * 3600
_SEIZURE = re.compile(r"^seizure\s*(\d+)?\s*(start|end)\s*time\s*:\s*([\d.]+)", re.IGNORECASE)
_KEY_VALUE = re.compile(r"^([^:]+):\s*(.*)$")


@dataclass
class ChbmitFile:
    """One ``File Name:`` block.

    Attributes:
        name: EDF file name (``chb01_03.edf``).
        start_time / end_time: clock times as written (``"13:43:04"``), or None.
        duration: seconds from start to end time (past midnight handled), or None.
        n_seizures: the ``Number of Seizures in File`` line.
        events: ``seiz`` TERM events in seconds from the start of the file.
        channels: channel list in force for this file.
    """

    name: str
    start_time: str | None = None
    end_time: str | None = None
    duration: float | None = None
    n_seizures: int = 0
    events: list[Event] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)


@dataclass
class ChbmitSummary:
    """A parsed summary: ``sfreq`` (Hz), first ``channels`` list, ``files`` by name (in order)."""

    sfreq: float | None
    channels: list[str]
    files: dict[str, ChbmitFile]

    def events_for(self, edf_name: str) -> list[Event]:
        """Seizure events of one EDF file (by file name or path); [] for a seizure-free file.

        Raises:
            KeyError: the summary does not list that file.
        """
        return self.files[Path(edf_name).name].events


def _clock(path: Path, lineno: int, text: str) -> int:
    parts = text.strip().split(":")
    try:
        h, m, s = (int(p) for p in parts)
    except ValueError:
        raise EEGReadError(path, f"line {lineno}: bad clock time {text.strip()!r}") from None
    return h * 3600 + m * 60 + s


def read_chbmit_summary(path: str | PathLike) -> ChbmitSummary:
    """Parse a CHB-MIT summary file.

    Raises:
        EEGReadError: unreadable file, bad numbers or clock times, seizure end before start,
            an end time without a start.

    Warns:
        EEGReadWarning: the number of seizures listed differs from ``Number of Seizures in
            File``, or a seizure ends after the file's end time.
    """
    path = Path(path)
    lines = read_text(path, "a CHB-MIT summary file", errors="replace").splitlines()
    sfreq: float | None = None
    first_channels: list[str] = []
    channels: list[str] = []
    files: dict[str, ChbmitFile] = {}
    current: ChbmitFile | None = None
    pending: float | None = None
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        seizure = _SEIZURE.match(line)
        if seizure and current is not None:
            seconds = parse_number(path, lineno, seizure.group(3), "seizure time")
            if seizure.group(2).lower() == "start":
                pending = seconds
            elif pending is None:
                raise EEGReadError(path, f"line {lineno}: seizure end time without a start")
            elif seconds < pending:
                raise EEGReadError(
                    path,
                    f"line {lineno}: {current.name}: seizure ends ({seconds} s) before it "
                    f"starts ({pending} s)",
                )
            else:
                current.events.append(Event(pending, seconds, "seiz", TERM, 1.0))
                pending = None
            continue
        kv = _KEY_VALUE.match(line)
        if not kv:
            continue
        key, value = kv.group(1).strip().lower(), kv.group(2).strip()
        if key == "data sampling rate":
            sfreq = parse_number(path, lineno, value, "sampling rate")
        elif key.startswith("channels"):  # "Channels in EDF Files" / "Channels changed"
            channels = []
        elif re.fullmatch(r"channel \d+", key):
            channels.append(value)
            if not files:
                first_channels = channels
        elif key == "file name":
            current = ChbmitFile(name=value, channels=channels)
            files[value] = current
            pending = None
        elif current is None:
            continue
        elif key == "file start time":
            current.start_time = value
        elif key == "file end time":
            current.end_time = value
            start = _clock(path, lineno, current.start_time or value)
            current.duration = float((_clock(path, lineno, value) - start) % _DAY)
        elif key == "number of seizures in file":
            current.n_seizures = int(parse_number(path, lineno, value, "number of seizures", int))
    for f in files.values():
        _check(path, f)
    return ChbmitSummary(sfreq=sfreq, channels=first_channels, files=files)


def _check(path: Path, f: ChbmitFile) -> None:
    if len(f.events) != f.n_seizures:
        warn(path, f"{f.name}: says {f.n_seizures} seizures but lists {len(f.events)}")
    if f.duration is not None:
        for ev in f.events:
            if ev.stop > f.duration:
                warn(
                    path,
                    f"{f.name}: seizure {ev.start:g}-{ev.stop:g} s ends after the file "
                    f"({f.duration:g} s)",
                )
