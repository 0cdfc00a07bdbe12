"""TUSZ bi-class ``.csv_bi`` files (term-based ``seiz`` / ``bckg`` rows), read and write.

Reference files list only ``seiz`` rows; hypothesis files written for the NEDC scorer often
fill every gap with ``bckg`` rows (see :func:`fill_background`). Both styles are read the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from os import PathLike
from pathlib import Path

from eegssm.io.annotations._tusz import (
    DEFAULT_MONTAGE_FILE,
    VERSION,
    TuszFile,
    format_tusz,
    parse_tusz,
)
from eegssm.io.annotations.labels import BACKGROUND_LABEL, is_seizure
from eegssm.io.types import TERM, Event


class CsvBiFile(TuszFile):
    """Contents of a ``.csv_bi`` file: ``events`` (seconds), ``duration`` (s), ``bname``,
    ``montage_file``, ``version``."""

    @property
    def seizures(self) -> list[Event]:
        """The seizure events only (labels for which :func:`is_seizure` holds)."""
        return [ev for ev in self.events if is_seizure(ev.label)]


def read_csv_bi(path: str | PathLike, label_map: dict[str, str] | None = None) -> CsvBiFile:
    """Read a TUSZ ``.csv_bi`` file.

    Args:
        label_map: lower-case label → label, applied before labels are checked (``{"siez":
            "seiz"}`` for a file with that typo).

    Raises:
        EEGReadError: empty file, missing header or duration, non-numeric fields,
            ``stop_time < start_time``, confidence outside [0, 1], an unknown label (naming
            the line).

    Warns:
        EEGReadWarning: an event ending after the ``# duration``.
    """
    parsed = parse_tusz(path, label_map=label_map)
    return CsvBiFile(**vars(parsed))


def write_csv_bi(
    path: str | PathLike,
    events: Iterable[Event],
    duration: float,
    bname: str | None = None,
    montage_file: str = DEFAULT_MONTAGE_FILE,
    version: str = VERSION,
) -> Path:
    """Write events (seconds) as a TUSZ ``.csv_bi`` file, byte-compatible with the NEDC tools.

    Args:
        path: output file.
        events: rows to write, in the given order (``channel`` is normally ``TERM``).
        duration: recording duration in seconds.
        bname: the ``# bname`` value; defaults to the file stem.
        montage_file: the ``# montage_file`` value.

    Returns:
        The path written (atomically: a temporary file renamed when complete).

    Raises:
        ValueError: a header value, label or channel that would break the format (a control
            character such as a newline; a comma in a label or channel).
    """
    from eegssm import atomic

    path = Path(path)
    text = format_tusz(list(events), duration, bname or path.stem, montage_file, version)
    return atomic.write_text(path, text)


def fill_background(events: Iterable[Event], duration: float) -> list[Event]:
    """Seizure events plus ``bckg`` TERM events covering every gap from 0 to ``duration``.

    This is the hypothesis convention of the NEDC sample data. Input events are sorted by start;
    overlapping seizures are kept as given (gaps are computed from the running maximum stop).
    """
    seiz = sorted((ev for ev in events if is_seizure(ev.label)), key=lambda e: (e.start, e.stop))
    out: list[Event] = []
    cursor = 0.0
    for ev in seiz:
        if ev.start > cursor:
            out.append(Event(cursor, ev.start, BACKGROUND_LABEL, TERM, 1.0))
        out.append(ev)
        cursor = max(cursor, ev.stop)
    if cursor < duration:
        out.append(Event(cursor, duration, BACKGROUND_LABEL, TERM, 1.0))
    return out
