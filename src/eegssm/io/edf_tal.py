"""EDF+ annotations (time-stamped annotation lists, TALs) read without mne, as mne reads them.

An EDF+ file keeps its annotations in ``EDF Annotations`` signals: in each data record, TALs
``+onset[\\x15duration]\\x14text\\x14[text\\x14...]\\x00``, the first of every record a
time-keeping TAL (its onset, no text). mne (``mne.io.edf.edf._read_annotations_edf``) joins
the annotation signals' bytes (each signal's records in turn), decodes them as UTF-8, finds the
TALs with one regular expression, makes each text one annotation (onsets shifted so that the
first record's time-keeping TAL is 0; ``text@@channel`` names a channel), and sorts them by
onset, then duration. :func:`read_annotations` does the same on the file's bytes, without
importing mne (about 0.4 s of a one-hour recording's 3 s), for the files
:func:`eegssm.io.read.open_recording` reads directly; ``tests/test_io_read.py`` checks it
against mne on every EDF+ file at hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from eegssm.io.edf_header import EdfHeader

ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")

#: mne's pattern: onset, optional duration, then the texts up to the TAL's end.
TAL = re.compile("([+-]\\d+\\.?\\d*)(\x15(\\d+\\.?\\d*))?(\x14.*?)\x14\x00")


#: Data records read at a time when collecting the annotation signals (memory stays at a few
#: MB whatever the file's length: a day of EEG is ~0.8 GB of records).
RECORDS_PER_READ = 1024


def annotation_bytes(path: Path, header: EdfHeader) -> bytes:
    """The bytes of the file's annotation signals, each signal's records in turn (b"" without
    one), read ``RECORDS_PER_READ`` records at a time. Raises ValueError when the data records
    are shorter than the header says."""
    spr = np.asarray(header.samples_per_record, dtype=np.int64)
    signals = [i for i, label in enumerate(header.labels) if label in ANNOTATION_LABELS]
    if not signals or header.n_records <= 0:
        return b""
    width = header.bytes_per_sample
    record = int(spr.sum()) * width
    starts = np.concatenate([[0], np.cumsum(spr)]) * width
    parts: list[list[bytes]] = [[] for _ in signals]
    with open(path, "rb") as f:
        f.seek(256 * (len(header.labels) + 1))
        for first in range(0, header.n_records, RECORDS_PER_READ):
            n = min(RECORDS_PER_READ, header.n_records - first)
            data = np.frombuffer(f.read(n * record), np.uint8)
            if data.size != n * record:
                raise ValueError("data records shorter than the header says")
            rows = data.reshape(n, record)
            for part, i in zip(parts, signals):
                part.append(rows[:, starts[i] : starts[i + 1]].tobytes())
    return b"".join(b"".join(part) for part in parts)


def parse(text: str, ch_names: list[str]) -> list[tuple[float, float, str]]:
    """Annotations ``(onset s, duration s, text)`` of decoded TAL bytes, as mne builds them:
    one per text, onsets from the first record's time-keeping TAL, ``text@@channel`` (a channel
    of ``ch_names``) kept as ``text``, sorted by onset, then duration."""
    events: dict[str, list] = {}
    offset = 0.0
    for k, (onset_s, _, duration_s, texts) in enumerate(TAL.findall(text)):
        onset = float(onset_s) + offset
        duration = float(duration_s) if duration_s else 0.0
        for description in texts.split("\x14")[1:]:
            if description:
                parts = description.split("@@")
                on_channel = "@@" in description and parts[1] in ch_names
                if on_channel:
                    description = parts[0]
                key = f"{onset}_{duration}_{description}"
                if not on_channel and key in events:
                    key += f"_{k}"
                if key not in events:
                    events[key] = [onset, duration, description]
            elif k == 0:  # the time-keeping TAL of the first record
                offset = -onset
    order = sorted((e[0], e[1], i) for i, e in enumerate(events.values()))
    values = list(events.values())
    return [tuple(values[i]) for _, _, i in order]


def read_annotations(
    path: Path, header: EdfHeader, ch_names: list[str]
) -> list[tuple[float, float, str]]:
    """The file's EDF+ annotations, as :func:`parse` gives them.

    Raises:
        ValueError: the records are short, or the annotation bytes are not UTF-8 (mne says
            what is wrong with such a file).
    """
    raw = annotation_bytes(path, header)
    return parse(raw.decode("utf-8"), ch_names) if raw else []
