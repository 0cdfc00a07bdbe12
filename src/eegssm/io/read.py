"""Read an EDF / EDF+ / BDF file (or an ``mne.io.BaseRaw``) into a :class:`Recording`.

The header is checked first (``edf_header``) so that a damaged file fails with a message naming
the file and the field; mne then decodes the samples. Non-EEG channels are dropped by name
before mne reads, so that mne's common sampling rate is the rate of the EEG channels.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eegssm.io.channels import describe_missing, is_non_eeg, match_channels, rename_channels
from eegssm.io.edf_d import GapLayout, edf_d_layout
from eegssm.io.edf_header import EdfHeader, read_edf_header
from eegssm.io.edf_records import EdfRecords
from eegssm.io.errors import EEGReadError, warn
from eegssm.io.types import TERM, Event, Recording

if TYPE_CHECKING:
    import mne

_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
#: :meth:`RecordingSource.load` refuses to decode more than this many times the file's size
#: (a plain EDF decodes to 4x: int16 to float64; only channels at very different rates, all
#: resampled by mne to the fastest, or huge EDF+D gaps go beyond) ...
MAX_EXPANSION = 64
#: ... unless the decoded samples take less than this anyway.
EXPANSION_FLOOR_BYTES = 256 << 20
#: mne warnings that add nothing for our users (or that ``edf_header`` already reported better).
_QUIET_MNE_WARNINGS = (
    "Number of records from the header does not match the file size",
    "Invalid measurement date",
    "different highpass filters",
    "different lowpass filters",
    "is greater than lowpass cutoff",
)


def read_recording(
    source: str | PathLike | mne.io.BaseRaw,
    channels: Sequence[str] | None = None,
    drop_non_eeg: bool = True,
    channel_map: dict[str, str] | None = None,
) -> Recording:
    """Read a recording as float32 ``(C, T)`` microvolts with its events.

    Args:
        source: path to an EDF, EDF+ or BDF file, or an ``mne.io.BaseRaw`` already loaded.
        channels: channel names to keep, in this order (case-insensitive). Non-EEG channels may
            be named explicitly. A name that the file lacks raises :class:`EEGReadError`.
        drop_non_eeg: without ``channels``, drop ECG/EOG/EMG/respiration/photic/marker channels
            (see :func:`eegssm.io.channels.is_non_eeg`).
        channel_map: old → new channel names (case-insensitive old names), applied first: the
            new names decide which channels are EEG and are what ``channels`` names.

    Returns:
        ``Recording`` with ``data`` (C, T) float32 in µV, ``sfreq`` in Hz, ``ch_names``, ``events``
        (EDF+ annotations, seconds from the first sample, labels as written, channel ``TERM``)
        and ``meta``: ``source`` (path or None), ``start_time`` (ISO string or None),
        ``duration`` (s), ``subject`` (id or None), ``format`` and ``native_sfreq`` (Hz per kept
        channel); for EDF+D files ``gaps``: ``[start, stop]`` seconds of each pause, filled with
        zeros so that samples and events keep their true times (:mod:`eegssm.io.edf_d`).

    Raises:
        EEGReadError: missing, empty, truncated or corrupt file; unknown channel names; no
            channel left after dropping non-EEG channels; absurd sizes (a rate outside
            :data:`~eegssm.io.edf_header.SFREQ_RANGE`, decoding far beyond the file's size,
            EDF+D gaps too long to fill).

    Warns:
        EEGReadWarning (naming the file): signals recorded at different rates (resampled to the
        highest), NaN or flat channels, truncated data, annotations beyond the end, EDF+D gaps.

    A file too long to hold in memory is read piece by piece with :func:`open_recording`.
    """
    if not isinstance(source, (str, PathLike)):  # an mne Raw (mne is imported only for it)
        return from_mne(source, channel_map, channels, drop_non_eeg)
    return open_recording(source, channels, drop_non_eeg, channel_map).load()


class RecordingSource:
    """An EDF/BDF recording opened without reading its samples (see :func:`open_recording`).

    Attributes:
        path: the file.
        sfreq: sampling rate in Hz (mne's common rate of the kept channels).
        ch_names: kept channel names, in output order.
        n_times: samples per channel.
        events: EDF+ annotations (as in :func:`read_recording`).
        meta: as ``Recording.meta`` of :func:`read_recording`.

    ``read(start, stop)`` decodes samples ``[start, stop)`` as float32 ``(C, n)`` µV; only the
    data records holding them are read from disk, so memory is bounded by the piece asked for.
    """

    def __init__(
        self,
        path: Path,
        raw: mne.io.BaseRaw | None,
        picks: list[int],
        meta: dict,
        layout: GapLayout | None = None,
        records: EdfRecords | None = None,
        direct: tuple[float, list[str], int, list[Event]] | None = None,
    ) -> None:
        self.path = path
        self._raw = raw
        self._picks = picks
        self._layout = layout
        self._records = records
        self.meta = meta
        if direct is not None:  # read without mne (_open_direct): sfreq, names, n_times, events
            self.sfreq, self._include, self.n_times, self.events = direct
            self.ch_names = [self._include[i] for i in picks]
            return
        self.sfreq = float(raw.info["sfreq"])
        self.ch_names = [raw.ch_names[i] for i in picks]
        self.n_times = int(raw.n_times) if layout is None else layout.n_times
        if layout is None:
            self.events = _events(str(path), raw, self.n_times / self.sfreq)
        else:  # mne drops the annotations beyond its joined data: read them from the file
            self.events = _events(
                str(path), raw, self.n_times / self.sfreq, layout.origin_s, layout.annotations
            )

    @property
    def n_channels(self) -> int:
        return len(self.ch_names)

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_times / self.sfreq

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Samples ``[start, stop)`` (clipped to the recording) as float32 ``(C, n)`` µV.

        In an EDF+D file with gaps, samples inside a gap (``meta["gaps"]``) are zeros."""
        stop = self.n_times if stop is None else min(int(stop), self.n_times)
        start = max(0, min(int(start), stop))
        if self._layout is None:
            return self._read_raw(start, stop)
        out = np.zeros((self.n_channels, stop - start), dtype=np.float32)
        for at, raw_at, n in self._layout.segments:
            a, b = max(start, at), min(stop, at + n)
            if a < b:
                out[:, a - start : b - start] = self._read_raw(raw_at + a - at, raw_at + b - at)
        return out

    def _read_raw(self, start: int, stop: int) -> np.ndarray:
        """Samples ``[start, stop)`` of mne's (joined) data as float32 µV (decoded directly
        from the data records when :class:`~eegssm.io.edf_records.EdfRecords` can: the same
        values)."""
        if self._records is not None:
            try:
                return self._records.read(start, stop)
            except Exception:  # noqa: BLE001 - a damaged file: mne reads it or says why not
                self._records = None
        if self._raw is None:  # opened without mne: mne reads what the direct reader could not
            self._raw = _mne_raw(self.path, read_edf_header(self.path), self._include)
        try:
            volts = self._raw.get_data(picks=self._picks, start=start, stop=stop)
        except Exception as exc:  # mne raises bare ValueError/IndexError on odd files
            raise EEGReadError(
                self.path,
                f"mne could not read samples {start}–{stop}: {type(exc).__name__}: {exc}",
                "the data section may be damaged",
            ) from exc
        volts *= 1e6  # mne holds volts
        return volts.astype(np.float32)

    def load(self) -> Recording:
        """The whole recording in memory (warns about NaN/inf and flat channels).

        Raises:
            EEGReadError: decoding would take more than :data:`MAX_EXPANSION` times the file's
                size (signals at very different rates are all resampled to the fastest).
        """
        decoded = 8 * self.n_channels * self.n_times  # mne decodes float64
        size = max(self.path.stat().st_size, 1)
        if decoded > max(MAX_EXPANSION * size, EXPANSION_FLOOR_BYTES):
            raise EEGReadError(
                self.path,
                f"decoding its {self.n_channels} channels would take {decoded / 2**30:.1f} GiB "
                f"from a {size / 2**20:.1f} MiB file (channels at very different rates are all "
                f"resampled to {self.sfreq:g} Hz, or gaps are long)",
                "pick the channels you need with channels=, or read it piece by piece with "
                "open_recording",
            )
        data = self.read()
        _check_values(str(self.path), data, self.ch_names)
        meta = dict(self.meta)
        return Recording(
            data=data,
            sfreq=self.sfreq,
            ch_names=list(self.ch_names),
            events=self.events,
            meta=meta,
        )

    def check_values(self, block_bytes: int = 64 << 20) -> None:
        """Warn about NaN/inf and flat channels as :meth:`load` does, reading the recording
        block by block (memory: a few times ``block_bytes``, whatever the file's length)."""
        step = max(1, block_bytes // (8 * max(self.n_channels, 1)))
        finite = np.ones(self.n_channels, dtype=bool)
        low = np.full(self.n_channels, np.inf)
        high = np.full(self.n_channels, -np.inf)
        for start in range(0, self.n_times, step):
            ok, lo, hi = _value_ranges(self.read(start, start + step))
            finite &= ok
            low, high = np.minimum(low, lo), np.maximum(high, hi)
        _warn_values(str(self.path), self.ch_names, finite, low, high)


def open_recording(
    path: str | PathLike,
    channels: Sequence[str] | None = None,
    drop_non_eeg: bool = True,
    channel_map: dict[str, str] | None = None,
) -> RecordingSource:
    """Open an EDF, EDF+ or BDF file for reading piece by piece.

    Checks the header, chooses the channels and reads the annotations exactly as
    :func:`read_recording` does, but decodes no samples: call ``read(start, stop)`` on the result.

    Raises:
        EEGReadError: as :func:`read_recording`.
    """
    path = Path(path)
    header = read_edf_header(path)
    labels = [lbl for lbl in header.labels if lbl not in _ANNOTATION_LABELS]
    names = rename_channels(labels, channel_map, path)  # the new names decide what is EEG
    keep = _choose(path, names, channels, drop_non_eeg, [None] * len(labels))
    include = sorted({labels[i] for i in keep}, key=labels.index)
    # raw channels are the included labels in file order (duplicates renamed by mne).
    raw_labels = [lbl for lbl in labels if lbl in set(include)]
    source = _open_direct(path, header, raw_labels, _order(raw_labels, labels, keep))
    if source is None:
        source = _open_with_mne(path, header, labels, include, raw_labels, keep)
    if channel_map:
        source.ch_names = [names[i] for i in keep]
        rates = source.meta["native_sfreq"].values()
        source.meta["native_sfreq"] = dict(zip(source.ch_names, rates))
        source.meta["renamed"] = dict(channel_map)
    return source


def _mne_raw(path: Path, header: EdfHeader, include: list[str]) -> mne.io.BaseRaw:
    """mne's reader of ``path`` (only the ``include`` channels), its warnings forwarded."""
    import mne

    reader = mne.io.read_raw_bdf if header.kind.startswith("BDF") else mne.io.read_raw_edf
    with warnings.catch_warnings(record=True) as caught, mne.utils.use_log_level("ERROR"):
        warnings.simplefilter("always")
        try:
            raw = reader(path, include=include, preload=False, verbose=False)
        except Exception as exc:  # mne raises bare ValueError/IndexError on odd files
            raise EEGReadError(
                path, f"mne could not read the file: {type(exc).__name__}: {exc}", _hint(header)
            ) from exc
    _forward_mne_warnings(path, caught)
    return raw


def _open_direct(
    path: Path, header: EdfHeader, raw_labels: list[str], order: list[int]
) -> RecordingSource | None:
    """The file opened without mne, where its layout is the common one: EDF or EDF+C, 16-bit
    samples, the kept signals at one rate and readable by :class:`EdfRecords`, every data
    record present, annotations that decode and lie within the recording. What mne would give
    (``tests/test_io_read.py`` compares the two); None for any other file, which mne opens
    (mne's import alone takes ~0.4 s)."""
    from eegssm.io import edf_tal

    if header.kind not in ("EDF", "EDF+C") or header.n_records <= 0 or not raw_labels:
        return None
    spr = {header.samples_per_record[header.labels.index(lbl)] for lbl in raw_labels}
    if len(spr) != 1 or header.record_duration <= 0:
        return None
    n_times = header.n_records * spr.pop()
    kept = [raw_labels[i] for i in order]
    records = EdfRecords.for_signals(path, header, kept, n_times)
    if records is None:
        return None
    size = records.header_bytes + header.n_records * records.record * header.bytes_per_sample
    try:
        if path.stat().st_size < size:  # a short file: mne decides what it holds
            return None
        with path.open("rb") as f:
            head = f.read(256 + 16 * len(header.labels))
        if any(b < 0x20 for b in head[256:]):  # control characters in the labels: mne decides
            return None
        annotations = edf_tal.read_annotations(path, header, raw_labels)
        patient = head[8:88].decode("latin-1").rstrip()  # as mne reads the patient id
    except (OSError, ValueError):  # mne reads it, or says what is wrong
        return None
    sfreq = n_times / header.n_records / header.record_duration
    duration = n_times / sfreq
    last = (n_times - 1) / sfreq
    if any(onset < 0 or onset + length > last for onset, length, _ in annotations):
        return None  # mne crops them, with its warnings
    events = [Event(on, on + length, text.strip(), TERM, 1.0) for on, length, text in annotations]
    his_id = patient.split(" ")[0]
    meta = {
        "source": str(path),
        "start_time": header.start.isoformat() if header.start else None,
        "duration": duration,
        "subject": his_id if his_id and his_id.upper() != "X" else None,
        "format": header.kind,
        "native_sfreq": {lbl: header.sfreqs[lbl] for lbl in kept},
    }
    direct = (sfreq, raw_labels, n_times, events)
    return RecordingSource(path, None, order, meta, None, records, direct)


def _open_with_mne(
    path: Path,
    header: EdfHeader,
    labels: list[str],
    include: list[str],
    raw_labels: list[str],
    keep: list[int],
) -> RecordingSource:
    """The file opened by mne (any layout mne reads: EDF+D, BDF, mixed rates, odd files)."""
    raw = _mne_raw(path, header, include)
    if len(raw.ch_names) != len(raw_labels):  # mne decoded the labels differently
        raise EEGReadError(
            path,
            f"mne read {len(raw.ch_names)} of the {len(raw_labels)} signals the header lists "
            f"({', '.join(map(repr, raw_labels))}); the signal labels may hold control "
            "characters",
            _hint(header),
        )
    order = _order(raw_labels, labels, keep)
    sfreq = float(raw.info["sfreq"])
    _warn_mixed_rates(path, header, [raw_labels[i] for i in order], sfreq)
    layout = None
    if header.kind.endswith("+D"):
        layout = edf_d_layout(path, header, sfreq, int(raw.n_times), len(order))
    n_times = int(raw.n_times) if layout is None else layout.n_times
    meta = {
        "source": str(path),
        "start_time": header.start.isoformat() if header.start else None,
        "duration": n_times / sfreq,
        "subject": _subject(raw),
        "format": header.kind,
        "native_sfreq": {raw.ch_names[i]: header.sfreqs[raw_labels[i]] for i in order},
    }
    if header.kind.endswith("+D"):  # seconds on the time line, zeros in the samples
        meta["gaps"] = [] if layout is None else [[a / sfreq, b / sfreq] for a, b in layout.gaps]
    records = None
    if layout is None:
        records = EdfRecords.for_signals(
            path, header, [raw_labels[i] for i in order], int(raw.n_times)
        )
    return RecordingSource(path, raw, order, meta, layout, records)


def from_mne(
    raw: mne.io.BaseRaw,
    channel_map: dict[str, str] | None = None,
    channels: Sequence[str] | None = None,
    drop_non_eeg: bool = True,
) -> Recording:
    """An ``mne.io.Raw`` as a :class:`Recording` (what :func:`read_recording` gives for a file).

    Args:
        raw: any ``mne.io.BaseRaw`` (preloaded or not).
        channel_map: old → new channel names, applied first (case-insensitive old names), e.g.
            ``{"EEG 001": "Fp1"}``; ``channels`` then uses the new names.
        channels, drop_non_eeg: as :func:`read_recording`; mne channel types are used as well
            (``ecg``, ``eog``, ``stim``, ``misc`` ... are not EEG).

    Returns:
        float32 ``(C, T)`` µV (mne holds volts; channels whose unit is not volts are kept as
        mne holds them, with a warning); ``events`` from ``raw.annotations`` (seconds from the
        first sample, labels as written); ``meta["start_time"]``: ``meas_date`` plus
        ``raw.first_time`` (the first sample, UTC, ISO string) or None when ``meas_date`` is
        unset.

    Raises:
        EEGReadError: an unknown name in ``channel_map`` or ``channels``; no EEG channel left.
    """
    import datetime as dt

    source = str(raw.filenames[0]) if raw.filenames and raw.filenames[0] else None
    names = rename_channels(raw.ch_names, channel_map, source)
    keep = _choose(source, names, channels, drop_non_eeg, raw.get_channel_types())
    rec = _to_recording(raw, keep, source=source)
    rec.ch_names = [names[i] for i in keep]
    meas = raw.info["meas_date"]
    start = None
    if meas is not None:
        first = meas.astimezone(dt.timezone.utc) + dt.timedelta(seconds=float(raw.first_time))
        start = first.replace(tzinfo=None).isoformat()
    rec.meta.update(
        start_time=start,
        format="mne",
        native_sfreq={name: float(raw.info["sfreq"]) for name in rec.ch_names},
    )
    if channel_map:
        rec.meta["renamed"] = dict(channel_map)
    return rec


#: The older name of :func:`from_mne`.
recording_from_raw = from_mne


def as_recording(
    obj: Recording | mne.io.BaseRaw | str | PathLike,
    channel_map: dict[str, str] | None = None,
) -> Recording:
    """A :class:`Recording` from a ``Recording``, an ``mne.io.Raw`` or an EDF/BDF path, with
    channels renamed by ``channel_map`` (old → new, case-insensitive old names).

    The one entry point for APIs that take "a recording" (``detect()``, ``Detector.run``,
    ``classify()``).

    Raises:
        TypeError: anything else.
        EEGReadError: an unreadable file, or an unknown old name in ``channel_map``.
    """

    if isinstance(obj, Recording):
        if not channel_map:
            return obj
        source = obj.meta.get("source")
        names = rename_channels(obj.ch_names, channel_map, source)
        return obj.copy_with(ch_names=names, meta=dict(obj.meta, renamed=dict(channel_map)))
    if isinstance(obj, (str, PathLike)):
        return read_recording(obj, channel_map=channel_map)
    try:
        import mne
    except ImportError:  # pragma: no cover - mne is a dependency
        mne = None
    if mne is not None and isinstance(obj, mne.io.BaseRaw):
        return from_mne(obj, channel_map=channel_map)
    raise TypeError(
        f"expected an eegssm Recording, an mne.io.Raw or an EDF/BDF path, got {type(obj).__name__}"
    )


def _choose(
    path: Any,
    names: list[str],
    channels: Sequence[str] | None,
    drop_non_eeg: bool,
    types: Sequence[str | None],
) -> list[int]:
    """Indices into ``names`` to keep, in output order."""
    if channels is not None:
        if isinstance(channels, str):
            channels = [channels]
        try:
            groups = match_channels(names, channels)
        except KeyError as exc:
            raise EEGReadError(
                path, describe_missing(exc.args[0], names), "check the channels= names"
            ) from None
        return [i for group in groups for i in group]
    keep = [i for i, name in enumerate(names) if not (drop_non_eeg and is_non_eeg(name, types[i]))]
    if not keep:
        raise EEGReadError(
            path,
            f"no EEG channel left after dropping non-EEG channels (file has: {', '.join(names)})",
            "pass drop_non_eeg=False or name the channels with channels=",
        )
    return keep


def _order(raw_labels: list[str], labels: list[str], keep: list[int]) -> list[int]:
    """Positions in the mne raw (which holds ``raw_labels``) of the kept header channels."""
    positions: dict[str, list[int]] = {}
    for pos, lbl in enumerate(raw_labels):
        positions.setdefault(lbl, []).append(pos)
    order = []
    for i in keep:
        lbl = labels[i]
        # the k-th occurrence of a duplicated label in the header is the k-th in the raw
        k = sum(1 for j in range(i) if labels[j] == lbl)
        order.append(positions[lbl][k])
    return order


def _to_recording(raw: mne.io.BaseRaw, picks: list[int], source: str | None) -> Recording:
    from mne.io.constants import FIFF

    sfreq = float(raw.info["sfreq"])
    data = raw.get_data(picks=picks)
    names = [raw.ch_names[i] for i in picks]
    volts = np.array([raw.info["chs"][i]["unit"] == FIFF.FIFF_UNIT_V for i in picks], dtype=bool)
    data[volts] *= 1e6  # mne holds volts
    if not volts.all():
        others = [n for n, v in zip(names, volts) if not v]
        warn(source, f"channel(s) not in volts, kept in their own unit: {', '.join(others)}")
    data = data.astype(np.float32)
    _check_values(source, data, names)
    duration = data.shape[1] / sfreq
    events = _events(source, raw, duration)
    meta = {"source": source, "start_time": None, "duration": duration, "subject": _subject(raw)}
    return Recording(data=data, sfreq=sfreq, ch_names=names, events=events, meta=meta)


def _subject(raw: mne.io.BaseRaw) -> str | None:
    """The patient id of the header, or None when absent or anonymised (``X``)."""
    info = raw.info.get("subject_info") or {}
    his_id = str(info.get("his_id", "")).strip()
    return his_id if his_id and his_id.upper() != "X" else None


def _events(
    source: str | None,
    raw: mne.io.BaseRaw,
    duration: float,
    offset: float = 0.0,
    annotations: mne.Annotations | None = None,
) -> list[Event]:
    """EDF+ / mne annotations as TERM events in seconds from the first sample (labels as written,
    stripped: ``T0`` stays ``T0``). For EDF+D:
    ``annotations`` read from the file (onsets from its start) and ``offset``, the seconds from
    the file's start to its first sample."""
    events = []
    ann = raw.annotations if annotations is None else annotations
    first = float(raw.first_time) if annotations is None else 0.0
    for onset, length, text in zip(ann.onset, ann.duration, ann.description):
        start = float(onset) - first - offset
        stop = start + float(length)
        if start >= duration or stop < 0:
            warn(source, f"annotation {text!r} at {start:.3f} s is outside the recording; dropped")
            continue
        if stop > duration + 1e-6:
            warn(
                source,
                f"annotation {text!r} ends at {stop:.3f} s, after the end "
                f"({duration:.3f} s); clipped",
            )
            stop = duration
        events.append(Event(max(start, 0.0), stop, text.strip(), TERM, 1.0))
    return events


def _check_values(source: str | None, data: np.ndarray, names: list[str]) -> None:
    """Warn about channels holding NaN/inf or constant values (data is returned unchanged)."""
    _warn_values(source, names, *_value_ranges(data))


def _value_ranges(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel of ``(C, T)``: all finite?, finite minimum and maximum (±inf if none).

    A channel whose plain minimum and maximum are finite holds no NaN/inf (both propagate into
    them): two passes without temporaries; only the other channels are masked."""
    low = data.min(axis=1, initial=np.inf)
    high = data.max(axis=1, initial=-np.inf)
    finite = np.isfinite(low) & np.isfinite(high)
    finite |= data.shape[1] == 0
    for c in np.flatnonzero(~finite):
        ok = np.isfinite(data[c])
        low[c] = data[c][ok].min(initial=np.inf)
        high[c] = data[c][ok].max(initial=-np.inf)
    return finite, low, high


def _warn_values(
    source: str | None, names: list[str], finite: np.ndarray, low: np.ndarray, high: np.ndarray
) -> None:
    bad = [n for n, ok in zip(names, finite) if not ok]
    if bad:
        warn(source, f"non-finite samples (NaN/inf) in channel(s): {', '.join(bad)}")
    flat = [n for n, lo, hi in zip(names, low, high) if hi == lo]
    if flat:
        warn(source, f"flat channel(s) (constant value): {', '.join(flat)}")


def _warn_mixed_rates(path: Path, header: EdfHeader, kept: list[str], sfreq: float) -> None:
    rates = header.sfreqs
    slower = sorted({lbl for lbl in kept if not np.isclose(rates[lbl], sfreq)})
    if slower:
        detail = ", ".join(f"{lbl} {rates[lbl]:g} Hz" for lbl in slower)
        warn(
            path,
            f"signals have different sampling rates; mne resampled them to {sfreq:g} Hz: {detail}",
        )


def _duplicate_derivations_only(text: str) -> bool:
    """mne's 'not unique' warning about repeated bipolar derivations only (CHB-MIT stores
    ``T8-P8`` twice): mne numbers them and the montage treats them as one derivation."""
    from eegssm.preprocessing.channels import is_pair, normalize_name

    found = re.search(r"duplicates for: \{(.*)\}", text)
    if "not unique" not in text or not found:
        return False
    names = [n.strip().strip("'\"") for n in found.group(1).split(",")]
    return bool(names) and all(is_pair(normalize_name(n)) for n in names)


def _forward_mne_warnings(path: Path, caught: list[warnings.WarningMessage]) -> None:
    for w in caught:
        text = str(w.message)
        if any(q in text for q in _QUIET_MNE_WARNINGS) or _duplicate_derivations_only(text):
            continue
        if "expanding outside the data range" in text:
            warn(path, f"annotations extend past the end of the data and were clipped ({text})")
            continue
        warn(path, f"mne: {text}")


def _hint(header: EdfHeader) -> str:
    return f"{header.kind} header looked valid; the data section may be damaged"
