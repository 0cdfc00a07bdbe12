"""Parse and check the fixed-size EDF / EDF+ / BDF header before handing a file to mne.

mne reports a corrupt header as ``invalid literal for int() with base 10: ''`` or
``Bad EDF file provided``; this module reads the same header bytes (EDF spec, 1992 and EDF+ 2003;
BDF is the 24-bit BioSemi variant) and says which field of which file is wrong. It also gives the
native sampling rate of every signal, which mne hides once it has resampled them to one rate.

Layout: 256 bytes of general header, then ``ns`` x 256 bytes of per-signal fields, then
``n_records`` data records of ``sum(samples_per_record)`` samples (2 bytes each in EDF, 3 in BDF).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from eegssm.io.errors import EEGReadError, warn

#: Per-signal header fields: (name, width in bytes), in file order.
_SIGNAL_FIELDS = (
    ("label", 16),
    ("transducer", 80),
    ("physical_dimension", 8),
    ("physical_min", 8),
    ("physical_max", 8),
    ("digital_min", 8),
    ("digital_max", 8),
    ("prefiltering", 80),
    ("samples_per_record", 8),
    ("reserved", 32),
)
_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
_HINT = "the file is damaged or not EDF/BDF; re-export it from the recording software"
_RANGES = ("physical_min", "physical_max", "digital_min", "digital_max")

#: Native sampling rates accepted (Hz): outside, the header is refused before any sample is
#: read (a rate of 1e-300 or 1e300 Hz is a damaged field; resampling it would allocate absurdly).
SFREQ_RANGE = (1e-3, 1e6)


@dataclass(frozen=True)
class EdfHeader:
    """What the header of an EDF / EDF+ / BDF file says.

    Attributes:
        kind: ``"EDF"``, ``"EDF+C"``, ``"EDF+D"``, ``"BDF"`` or ``"BDF+C"``/``"BDF+D"``.
        patient: the 80-character local patient field (stripped).
        recording: the 80-character local recording field (stripped).
        start: start date and time (naive), or None when the header's date is invalid.
        n_records: number of data records (from the file size when the header says -1).
        record_duration: seconds per data record.
        labels: signal labels (stripped), annotation signals included.
        samples_per_record: samples per data record of each signal.
        physical_dimension: unit of each signal (``uV``, ``mV``, ``V``...).
        bytes_per_sample: 2 (EDF) or 3 (BDF).
        physical_min, physical_max, digital_min, digital_max: each signal's ranges (the
            scaling of its samples to ``physical_dimension``).
    """

    kind: str
    patient: str
    recording: str
    start: dt.datetime | None
    n_records: int
    record_duration: float
    labels: tuple[str, ...]
    samples_per_record: tuple[int, ...]
    physical_dimension: tuple[str, ...]
    bytes_per_sample: int
    physical_min: tuple[float, ...] = ()
    physical_max: tuple[float, ...] = ()
    digital_min: tuple[float, ...] = ()
    digital_max: tuple[float, ...] = ()

    @property
    def sfreqs(self) -> dict[str, float]:
        """Native sampling rate (Hz) of each data signal (annotation signals excluded)."""
        return {
            label: n / self.record_duration
            for label, n in zip(self.labels, self.samples_per_record)
            if label not in _ANNOTATION_LABELS
        }

    @property
    def duration(self) -> float:
        """Recording duration in seconds (``n_records * record_duration``)."""
        return self.n_records * self.record_duration


def _text(raw: bytes) -> str:
    try:
        return raw.decode("ascii").strip()
    except UnicodeDecodeError:
        # EDF requires ASCII; latin-1 never fails and keeps the file readable.
        return raw.decode("latin-1").strip()


def _number(path: Path, raw: bytes, field: str, kind: type = float) -> float:
    text = _text(raw)
    try:
        value = kind(float(text)) if kind is int else float(text)
        if kind is int and float(text) != value:
            raise ValueError
    except (ValueError, OverflowError):  # OverflowError: int(float("inf"))
        raise EEGReadError(path, f"header field {field} is not a number: {text!r}", _HINT) from None
    return value


def _start(path: Path, date: str, time: str) -> dt.datetime | None:
    try:
        day, month, year = (int(x) for x in date.split("."))
        hour, minute, second = (int(x) for x in time.replace(":", ".").split("."))
        # EDF years are two digits: 85-99 → 19xx, 00-84 → 20xx (EDF+ clipping date 1985).
        year += 1900 if year >= 85 else 2000
        return dt.datetime(year, month, day, hour, minute, second)
    except ValueError:
        warn(path, f"invalid start date/time in the header ({date!r} {time!r}); start unknown")
        return None


def read_edf_header(path: str | PathLike) -> EdfHeader:
    """Read and check the header of an EDF / EDF+ / BDF file.

    Raises:
        EEGReadError: missing, empty or truncated file, unknown version field, non-numeric or
            inconsistent header fields, a sampling rate outside :data:`SFREQ_RANGE`, no complete
            data record. Sizes are checked against the file size before anything is allocated.

    Warns:
        EEGReadWarning: fewer data records in the file than the header declares (the complete
            ones are read), an invalid start date, a signal whose digital or physical range is
            empty (it cannot be scaled).
    """
    path = Path(path)
    if not path.is_file():
        raise EEGReadError(path, "no such file", "check the path")
    size = path.stat().st_size
    if size == 0:
        raise EEGReadError(path, "file is empty (0 bytes)", "the download or copy failed")
    with path.open("rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise EEGReadError(
                path, f"truncated header: {size} bytes, an EDF header needs at least 256", _HINT
            )
        version = head[:8]
        if version == b"\xffBIOSEMI":
            bytes_per_sample, family = 3, "BDF"
        elif version.strip() == b"0":
            bytes_per_sample, family = 2, "EDF"
        else:
            raise EEGReadError(path, f"not an EDF or BDF file (version field {version!r})", _HINT)
        reserved = _text(head[192:236])
        plus = reserved[:5] in ("EDF+C", "EDF+D", "BDF+C", "BDF+D")
        kind = family + (reserved[3:5] if plus else "")
        header_bytes = int(_number(path, head[184:192], "'number of bytes in header'", int))
        n_records = int(_number(path, head[236:244], "'number of data records'", int))
        record_duration = _number(path, head[244:252], "'duration of a data record'")
        ns = int(_number(path, head[252:256], "'number of signals'", int))
        if ns <= 0:
            raise EEGReadError(path, f"header declares {ns} signals", _HINT)
        if header_bytes != 256 * (ns + 1):
            raise EEGReadError(
                path,
                f"header size field says {header_bytes} bytes but {ns} signals need "
                f"{256 * (ns + 1)}",
                _HINT,
            )
        rest = fh.read(256 * ns)
    if len(rest) < 256 * ns:
        raise EEGReadError(
            path,
            f"truncated header: {size} bytes, the header of {ns} signals needs {header_bytes}",
            _HINT,
        )

    fields: dict[str, list[bytes]] = {}
    offset = 0
    for name, width in _SIGNAL_FIELDS:
        fields[name] = [rest[offset + i * width : offset + (i + 1) * width] for i in range(ns)]
        offset += width * ns
    labels = tuple(_text(raw) for raw in fields["label"])
    spr = tuple(
        int(_number(path, raw, f"'samples per record' of signal {label!r}", int))
        for raw, label in zip(fields["samples_per_record"], labels)
    )
    for name in _RANGES:
        values = [
            _number(path, raw, f"'{name.replace('_', ' ')}' of signal {label!r}")
            for raw, label in zip(fields[name], labels)
        ]
        fields[name] = values  # type: ignore[assignment]
    for i, label in enumerate(labels):
        if label in _ANNOTATION_LABELS:
            continue
        if spr[i] <= 0:
            raise EEGReadError(path, f"signal {label!r} has {spr[i]} samples per record", _HINT)
        if fields["physical_min"][i] == fields["physical_max"][i] or (
            fields["digital_min"][i] == fields["digital_max"][i]
        ):
            warn(path, f"signal {label!r} has an empty physical or digital range; it will be flat")

    if not record_duration > 0:
        if record_duration == 0 and all(lbl in _ANNOTATION_LABELS for lbl in labels):
            record_duration = 1.0
        else:
            raise EEGReadError(
                path, f"duration of a data record must be > 0 s, got {record_duration}", _HINT
            )
    low, high = SFREQ_RANGE
    for label, n in zip(labels, spr):
        rate = n / record_duration
        if label not in _ANNOTATION_LABELS and not low <= rate <= high:
            raise EEGReadError(
                path,
                f"signal {label!r}: {n} samples per {record_duration:g} s record is "
                f"{rate:.3g} Hz, outside the plausible {low:g}-{high:g} Hz",
                _HINT,
            )
    record_bytes = sum(spr) * bytes_per_sample
    n_complete = (size - header_bytes) // record_bytes
    if n_records == -1:
        n_records = n_complete
    elif n_records < 0:
        raise EEGReadError(path, f"header declares {n_records} data records", _HINT)
    elif n_complete < n_records:
        if n_complete == 0:
            raise EEGReadError(
                path,
                f"truncated file: header declares {n_records} data records but the file holds "
                f"none complete ({size} bytes)",
                _HINT,
            )
        warn(
            path,
            f"truncated file: header declares {n_records} data records of "
            f"{record_duration:g} s but only {n_complete} are complete; reading "
            f"{n_complete * record_duration:g} s",
        )
        n_records = n_complete
    if n_records == 0:
        raise EEGReadError(path, "the file contains no data records", _HINT)

    return EdfHeader(
        kind=kind,
        patient=_text(head[8:88]),
        recording=_text(head[88:168]),
        start=_start(path, _text(head[168:176]), _text(head[176:184])),
        n_records=n_records,
        record_duration=record_duration,
        labels=labels,
        samples_per_record=spr,
        physical_dimension=tuple(_text(r) for r in fields["physical_dimension"]),
        bytes_per_sample=bytes_per_sample,
        **{name: tuple(fields[name]) for name in _RANGES},  # type: ignore[arg-type]
    )
