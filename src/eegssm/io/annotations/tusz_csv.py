"""TUSZ multi-class ``.csv`` files: one row per montage channel and event, read and write.

Same layout as ``.csv_bi`` (see ``_tusz``) but rows name montage channels (``FP1-F7``, ``F7-T3``,
...) and carry the seizure type (``fnsz``, ``gnsz``, ...) or ``bckg``.
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
from eegssm.io.annotations.labels import is_seizure
from eegssm.io.types import TERM, Event


class CsvFile(TuszFile):
    """Contents of a multi-class ``.csv`` file: per-channel ``events`` (seconds), ``duration``
    (s), ``bname``, ``montage_file``, ``version``."""

    @property
    def channels(self) -> list[str]:
        """Channel names in order of first appearance."""
        return list(dict.fromkeys(ev.channel for ev in self.events))

    def term_seizures(self, label: str = "seiz") -> list[Event]:
        """Seizure intervals merged across channels into ``TERM`` events (seconds).

        Overlapping or touching per-channel seizure rows become one event labelled ``label``
        (the bi-class view of the file, as in the matching ``.csv_bi``).
        """
        spans = sorted((ev.start, ev.stop) for ev in self.events if is_seizure(ev.label))
        merged: list[list[float]] = []
        for start, stop in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        return [Event(a, b, label, TERM, 1.0) for a, b in merged]


def read_tusz_csv(path: str | PathLike, label_map: dict[str, str] | None = None) -> CsvFile:
    """Read a TUSZ multi-class ``.csv`` file (errors, warnings and ``label_map`` as
    :func:`read_csv_bi`)."""
    return CsvFile(**vars(parse_tusz(path, label_map=label_map)))


def write_tusz_csv(
    path: str | PathLike,
    events: Iterable[Event],
    duration: float,
    bname: str | None = None,
    montage_file: str = DEFAULT_MONTAGE_FILE,
    version: str = VERSION,
) -> Path:
    """Write per-channel events (seconds) as a TUSZ ``.csv`` file atomically; returns the path
    written (errors as :func:`~eegssm.io.annotations.csv_bi.write_csv_bi`)."""
    from eegssm import atomic

    path = Path(path)
    text = format_tusz(list(events), duration, bname or path.stem, montage_file, version)
    return atomic.write_text(path, text)
