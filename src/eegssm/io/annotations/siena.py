"""Siena Scalp EEG ``Seizures-list-PNxx.txt`` files: clock times → seconds from registration start.

::

    Seizure n 1
    File name: PN00-1.edf
    Registration start time: 19.39.33
    Registration end time:  20.22.58
    Seizure start time: 19.58.36
    Seizure end time: 19.59.46

The real files mix ``19.39.33`` and ``21:51:02``, drop the word ``Seizure`` (``Start time:``),
put stray spaces inside times (``1 6.49.25``), list two seizures under one file name, and omit the
registration start when a block repeats a file (the previous one applies). Times that go past
midnight wrap to the next day. Values are reported as written: an end after the registration end
(PN00-3 lists ``19.29.29`` for a seizure that started at ``18.28.29``) is warned about, not fixed.
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
_CLOCK = re.compile(r"^(\d{1,2})[.:](\d{1,2})[.:](\d{1,2})$")


@dataclass
class SienaFile:
    """One recording in the list.

    Attributes:
        name: EDF file name as written (``PN00-1.edf``).
        registration_start / registration_end: clock times as seconds of the day, or None.
        duration: registration length in seconds (past midnight handled), or None.
        events: ``seiz`` TERM events in seconds from the registration start.
    """

    name: str
    registration_start: int | None = None
    registration_end: int | None = None
    duration: float | None = None
    events: list[Event] = field(default_factory=list)


@dataclass
class SienaSeizureList:
    """A parsed list: ``patient`` id, ``sfreq`` (Hz), ``channels``, ``files`` by name."""

    patient: str | None
    sfreq: float | None
    channels: list[str]
    files: dict[str, SienaFile]

    def events_for(self, edf_name: str) -> list[Event]:
        """Seizure events of one EDF (by name or path). Raises KeyError when not listed."""
        return self.files[Path(edf_name).name].events


def _clock(path: Path, lineno: int, text: str) -> int:
    match = _CLOCK.match(re.sub(r"\s+", "", text))
    if not match:
        raise EEGReadError(
            path,
            f"line {lineno}: cannot read clock time {text.strip()!r}",
            "expected HH.MM.SS or HH:MM:SS",
        )
    h, m, s = (int(g) for g in match.groups())
    if h > 23 or m > 59 or s > 59:
        raise EEGReadError(path, f"line {lineno}: clock time out of range {text.strip()!r}")
    return h * 3600 + m * 60 + s


def read_siena_seizures(path: str | PathLike) -> SienaSeizureList:
    """Parse a Siena ``Seizures-list-*.txt`` file.

    Raises:
        EEGReadError: unreadable file or clock time, seizure times before any registration
            start, an end time without a start.

    Warns:
        EEGReadWarning: a seizure that ends after the registration end time.
    """
    path = Path(path)
    lines = read_text(path, "a Siena seizure list", errors="replace").splitlines()
    stem = re.match(r"Seizures-list-(.+)$", path.stem)
    patient = stem.group(1) if stem else None
    sfreq: float | None = None
    channels: list[str] = []
    files: dict[str, SienaFile] = {}
    current: SienaFile | None = None
    reg_start: int | None = None
    pending: int | None = None
    for lineno, raw in enumerate(lines, start=1):
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        key = " ".join(key.lower().split())
        if key == "data sampling rate":
            sfreq = parse_number(path, lineno, value, "sampling rate")
        elif re.fullmatch(r"channel \d+", key):
            channels.append(value.strip())
        elif key == "file name":
            name = value.strip()
            current = files.setdefault(name, SienaFile(name=name))
            pending = None
        elif current is None:
            continue
        elif key == "registration start time":
            reg_start = _clock(path, lineno, value)
            current.registration_start = reg_start
        elif key == "registration end time":
            current.registration_end = _clock(path, lineno, value)
        elif key in ("seizure start time", "start time"):
            if current.registration_start is None:
                if reg_start is None:
                    raise EEGReadError(
                        path, f"line {lineno}: seizure before any registration start time"
                    )
                current.registration_start = reg_start
            pending = _clock(path, lineno, value)
        elif key in ("seizure end time", "end time"):
            if pending is None:
                raise EEGReadError(path, f"line {lineno}: seizure end time without a start")
            start = (pending - current.registration_start) % _DAY
            stop = start + (_clock(path, lineno, value) - pending) % _DAY
            current.events.append(Event(float(start), float(stop), "seiz", TERM, 1.0))
            pending = None
    for f in files.values():
        if f.registration_start is not None and f.registration_end is not None:
            f.duration = float((f.registration_end - f.registration_start) % _DAY)
            for ev in f.events:
                if ev.stop > f.duration:
                    warn(
                        path,
                        f"{f.name}: seizure {ev.start:g}-{ev.stop:g} s ends after the "
                        f"registration end ({f.duration:g} s); check the times in the list",
                    )
    return SienaSeizureList(patient=patient, sfreq=sfreq, channels=channels, files=files)
