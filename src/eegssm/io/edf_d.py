"""Discontinuous EDF+D files: where each data record lies in time.

In an EDF+D file every data record starts with a time-keeping annotation (``+<onset>``, seconds
from the header's start time) and records need not follow each other: the recording may pause.
mne joins the records as if they were continuous, so every sample after a pause would sit too
early while the annotations keep their true times. :func:`edf_d_layout` reads the onsets and
places the records on the true time line; :class:`~eegssm.io.read.RecordingSource` then fills the
gaps with zeros and lists them in ``meta["gaps"]`` (the window mask marks them as not valid).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eegssm.io.edf_header import EdfHeader
from eegssm.io.errors import EEGReadError, warn

_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
#: The zeros filling the gaps (float32, kept channels) may take at most as much memory as the
#: recorded samples themselves, or this many bytes if that is more: a small file claiming a
#: day-long pause is refused instead of allocating it.
MAX_GAP_FILL_BYTES = 256 << 20
#: Bytes of records read at once while collecting the onsets.
_CHUNK_BYTES = 16 << 20


@dataclass(frozen=True)
class GapLayout:
    """The records of an EDF+D file on its true time line (samples at the file's rate).

    Attributes:
        n_times: samples on the time line, from the first record to the end of the last.
        segments: ``(start on the time line, start in mne's joined samples, length)`` of each
            run of contiguous records.
        gaps: ``(start, stop)`` samples of each pause on the time line.
        origin_s: onset of the first record from the header's start time (s): the time line,
            and event times, start there.
        annotations: the file's annotations (``mne.Annotations``, onsets from its start: mne's
            reader drops those beyond its joined data).
    """

    n_times: int
    segments: tuple[tuple[int, int, int], ...]
    gaps: tuple[tuple[int, int], ...]
    origin_s: float
    annotations: Any = None


def record_onsets(path: str | Path, header: EdfHeader) -> np.ndarray:
    """Onset (s from the header's start time) of each data record: the time-keeping annotation
    that opens the record's first annotation signal. Reads only those bytes.

    Raises:
        EEGReadError: no annotation signal, or a record without a readable time-keeping onset.
    """
    path = Path(path)
    labels = list(header.labels)
    where = [i for i, lbl in enumerate(labels) if lbl in _ANNOTATION_LABELS]
    if not where:
        raise EEGReadError(path, "EDF+D file without an annotation signal (record onsets unknown)")
    bps = header.bytes_per_sample
    spr = header.samples_per_record
    start = sum(spr[: where[0]]) * bps
    length = spr[where[0]] * bps
    record_bytes = sum(spr) * bps
    header_bytes = 256 * (len(labels) + 1)
    onsets = np.empty(header.n_records, dtype=np.float64)
    per_chunk = max(1, _CHUNK_BYTES // record_bytes)
    with path.open("rb") as fh:
        for first in range(0, header.n_records, per_chunk):
            count = min(per_chunk, header.n_records - first)
            fh.seek(header_bytes + first * record_bytes)
            block = fh.read(count * record_bytes)
            if len(block) < count * record_bytes:
                raise EEGReadError(path, f"data record {first}: file ends early")
            rows = np.frombuffer(block, np.uint8).reshape(count, record_bytes)
            for k, row in enumerate(rows[:, start : start + length]):
                onsets[first + k] = _onset(path, first + k, row.tobytes())
    return onsets


def _onset(path: Path, record: int, tal: bytes) -> float:
    end = tal.find(b"\x14")
    text = tal[: max(end, 0)].decode("latin-1").strip()
    try:
        if end <= 0 or text[0] not in "+-":
            raise ValueError
        value = float(text)
        if not np.isfinite(value):
            raise ValueError
    except ValueError:
        raise EEGReadError(
            path,
            f"data record {record} does not start with a time-keeping annotation (+onset)",
            "an EDF+D file needs one in every record; re-export the file",
        ) from None
    return value


def edf_d_layout(
    path: str | Path, header: EdfHeader, sfreq: float, n_times: int, n_channels: int
) -> GapLayout | None:
    """Place the records of an EDF+D file on the true time line.

    Args:
        path, header: the file and its checked header.
        sfreq: mne's common rate (Hz); ``n_times``: mne's joined samples per channel.
        n_channels: channels that will be read (for the size of the zero filling).

    Returns:
        The layout, or None when the records are contiguous (nothing to fill).

    Raises:
        EEGReadError: missing onsets, records that overlap or go back in time, or gaps larger
            than :data:`MAX_GAP_FILL_BYTES` allows.

    Warns:
        EEGReadWarning: the number and total length of the gaps that were filled.
    """
    path = Path(path)
    per_record = int(round(header.record_duration * sfreq))
    n_records = min(header.n_records, n_times // max(per_record, 1))
    if n_records <= 0:
        return None
    onsets = record_onsets(path, header)[:n_records]
    origin = float(onsets[0])
    rel = onsets - origin
    span = float(rel[-1]) * sfreq + per_record  # samples on the time line
    recorded = n_records * per_record
    budget = max(recorded, MAX_GAP_FILL_BYTES // (4 * max(n_channels, 1)))
    if not span <= recorded + budget:
        raise EEGReadError(
            path,
            f"EDF+D gaps of {(span - recorded) / sfreq:.6g} s around {recorded / sfreq:.6g} s "
            "of data are too long to fill with zeros",
            "split the file at its gaps and read the parts",
        )
    positions = np.rint(rel * sfreq).astype(np.int64)
    segments: list[list[int]] = []
    gaps: list[tuple[int, int]] = []
    end = 0
    for r, pos in enumerate(positions.tolist()):
        if pos < end - 1:  # one sample of slack for rounding
            raise EEGReadError(
                path,
                f"data record {r} starts at {onsets[r]:.6g} s, before the end of record {r - 1}",
                "EDF+D records must be in time order and must not overlap",
            )
        pos = max(pos, end)
        if segments and pos == end:
            segments[-1][2] += per_record
        else:
            if segments:
                gaps.append((end, pos))
            segments.append([pos, r * per_record, per_record])
        end = pos + per_record
    if not gaps:
        return None
    total = sum(b - a for a, b in gaps) / sfreq
    warn(
        path,
        f"discontinuous EDF+D file: {len(gaps)} gap(s), {total:.6g} s in all, filled with zeros "
        "so that times stay true (listed in meta['gaps'])",
    )
    return GapLayout(
        end, tuple(tuple(s) for s in segments), tuple(gaps), origin, _annotations(path)
    )


def _annotations(path: Path) -> Any:
    import mne

    try:
        with warnings.catch_warnings(), mne.utils.use_log_level("ERROR"):
            warnings.simplefilter("ignore")
            return mne.read_annotations(path)
    except Exception as exc:  # mne raises bare errors on odd annotation bytes
        raise EEGReadError(path, f"cannot decode EDF+ annotations: {exc}") from exc
