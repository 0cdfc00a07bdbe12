"""EDF+ annotations: read them (mne) and write a ``Recording`` with its events as EDF+ (edfio)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable
from os import PathLike
from pathlib import Path

import numpy as np

from eegssm.io.edf_header import read_edf_header
from eegssm.io.errors import EEGReadError
from eegssm.io.types import TERM, Event, Recording


def read_edf_annotations(path: str | PathLike) -> list[Event]:
    """The EDF+ annotations of a file as TERM events (seconds, labels as written, stripped).

    Reads only the header and the annotation signal, not the EEG samples.

    Raises:
        EEGReadError: a damaged header (see :func:`eegssm.io.edf_header.read_edf_header`) or
            annotations mne cannot decode.
    """
    import mne

    path = Path(path)
    read_edf_header(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ann = mne.read_annotations(path)
    except Exception as exc:
        raise EEGReadError(path, f"cannot decode EDF+ annotations: {exc}") from exc
    return [
        Event(float(o), float(o) + float(d), t.strip(), TERM, 1.0)
        for o, d, t in zip(ann.onset, ann.duration, ann.description)
    ]


def _samples_per_record(n_times: int, sfreq: float) -> int:
    """A divisor of ``n_times`` close to one second of samples (EDF needs whole records)."""
    target = max(1, round(sfreq))
    best = n_times
    for k in range(1, int(np.sqrt(n_times)) + 1):
        if n_times % k == 0:
            for d in (k, n_times // k):
                if abs(d - target) < abs(best - target):
                    best = d
    return best


def write_edf(
    path: str | PathLike, recording: Recording, events: Iterable[Event] | None = None
) -> Path:
    """Write a recording (µV) and events as an EDF+C file readable by :func:`read_recording`.

    Samples are stored as 16-bit integers scaled to each channel's range (resolution about
    range / 65535 µV). Data records hold about one second (a divisor of the length, so no
    padding is added). Events default to ``recording.events``; a non-TERM event's channel is
    appended to its text (``"seiz@FP1-F7"``). ``meta["start_time"]`` (ISO) sets the start;
    ``meta["subject"]`` the patient code.

    Returns:
        The path written.
    """
    import edfio

    path = Path(path)
    events = list(recording.events if events is None else events)
    data = recording.data.astype(np.float64)
    if not np.isfinite(data).all():
        raise ValueError("EDF cannot store NaN or inf samples; clean the data first")
    signals = []
    for name, row in zip(recording.ch_names, data):
        low, high = float(row.min()), float(row.max())
        if high == low:  # a flat channel still needs a non-empty physical range
            low, high = low - 1.0, high + 1.0
        signals.append(
            edfio.EdfSignal(
                row,
                recording.sfreq,
                label=name,
                physical_dimension="uV",
                physical_range=(low, high),
            )
        )
    spr = _samples_per_record(recording.n_times, recording.sfreq)
    start = recording.meta.get("start_time")
    start_dt = dt.datetime.fromisoformat(start) if start else None
    annotations = [
        edfio.EdfAnnotation(
            ev.start, ev.duration, ev.label if ev.channel == TERM else f"{ev.label}@{ev.channel}"
        )
        for ev in events
    ]
    subject = recording.meta.get("subject")
    edf = edfio.Edf(
        signals,
        patient=edfio.Patient(code=str(subject).replace(" ", "_")) if subject else None,
        recording=edfio.Recording(startdate=start_dt.date()) if start_dt else None,
        starttime=start_dt.time().replace(microsecond=0) if start_dt else None,
        data_record_duration=spr / recording.sfreq,
        annotations=annotations,
    )
    edf.write(path)
    return path
