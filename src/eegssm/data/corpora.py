"""Readers for the public development corpora that are not plain EDF folders.

- **CHB-MIT clips** (Shoeb 2009, PhysioNet ``chbmit``, ODC-By): 10-s excerpts stored as ``.npy``
  ``(23, n)`` float64 µV at 256 Hz in the channel order of the patient's ``*-summary.txt``
  (bipolar double banana + 5 more derivations). ``ictal/<rec>_ictal.npy`` holds the first 10 s of
  a seizure, ``preictal_10s/<rec>_preictal10s.npy`` 10 s before its onset.
  :func:`read_chbmit_clips` returns them as :class:`~eegssm.io.types.Recording` s.
- **Bonn** (Andrzejak et al. 2001, CC BY 4.0): one zip per set (``Z O N F S``), 100 text files of
  4097 samples (23.6 s at 173.61 Hz), one channel, µV. Set S is intracranial ictal activity.
  :func:`read_bonn_set` returns ``(100, 4097)`` float32.

EDF corpora (eegmat, eegmmidb, CHB-MIT, Siena, TUSZ, BIDS) are read with
:func:`eegssm.io.read_recording` and :mod:`eegssm.data.discovery`.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np

from eegssm.io.types import TERM, Event, Recording
from eegssm.preprocessing.montages import CHBMIT_NAMES_23

#: Sampling rate of the Bonn sets (Hz).
BONN_SFREQ = 173.61
#: Sampling rate of CHB-MIT (Hz).
CHBMIT_SFREQ = 256.0

_SUMMARY_CHANNEL = re.compile(r"^Channel\s+\d+:\s*(\S+)\s*$", re.MULTILINE)


def chbmit_summary_channels(summary: str | Path) -> list[str]:
    """The channel list at the top of a CHB-MIT ``*-summary.txt`` (first listing only), with
    mne's running number on a repeated label (``T8-P8``, ``T8-P8-1``)."""
    text = Path(summary).read_text(encoding="latin-1")
    block = text.split("File Name:", 1)[0]
    names: list[str] = []
    for label in _SUMMARY_CHANNEL.findall(block):
        k = sum(1 for n in names if n == label or n.startswith(f"{label}-"))
        names.append(label if k == 0 else f"{label}-{k}")
    return names


def read_chbmit_clips(folder: str | Path) -> list[Recording]:
    """The ictal and pre-ictal clips of one CHB-MIT patient folder (see the module docstring).

    Returns:
        Recordings sorted by name (``chb01_03_ictal``, ``chb01_03_preictal``, ...), µV float32 at
        256 Hz. An ictal clip carries one ``seiz`` event over its whole length; ``meta`` holds
        ``subject`` (``chb01``), ``seizure`` (the source recording, ``chb01_03``), ``kind``
        (``"ictal"`` / ``"preictal"``) and ``source`` (the ``.npy`` path).

    Raises:
        FileNotFoundError: no ``ictal/*.npy`` or ``preictal_10s/*.npy`` in ``folder``.
        ValueError: a clip whose channel count differs from the summary's list.
    """
    folder = Path(folder)
    summaries = sorted(folder.glob("*-summary.txt"))
    names = chbmit_summary_channels(summaries[0]) if summaries else list(CHBMIT_NAMES_23)
    files = sorted(folder.glob("ictal/*.npy")) + sorted(folder.glob("preictal_10s/*.npy"))
    if not files:
        raise FileNotFoundError(f"{folder}: no ictal/*.npy or preictal_10s/*.npy clips")
    out = []
    for path in files:
        kind = "ictal" if path.parent.name == "ictal" else "preictal"
        seizure = re.sub(r"_(ictal|preictal\d*s?)$", "", path.stem)
        data = np.load(path).astype(np.float32)
        if data.ndim != 2 or data.shape[0] != len(names):
            raise ValueError(
                f"{path}: expected ({len(names)}, n) samples for the summary's channels, "
                f"got {data.shape}"
            )
        duration = data.shape[1] / CHBMIT_SFREQ
        events = [Event(0.0, duration, "seiz", TERM)] if kind == "ictal" else []
        meta = {
            "source": str(path),
            "subject": seizure.split("_")[0],
            "seizure": seizure,
            "kind": kind,
            "duration": duration,
            "start_time": None,
        }
        out.append(Recording(data, CHBMIT_SFREQ, list(names), events, meta))
    return sorted(out, key=lambda r: (r.meta["seizure"], r.meta["kind"]))


def read_bonn_set(zip_path: str | Path) -> np.ndarray:
    """All segments of one Bonn set: ``(n_segments, 4097)`` float32 µV at :data:`BONN_SFREQ`,
    in file-name order.

    Raises:
        ValueError: a segment that is not one integer per line of equal length.
    """
    zip_path = Path(zip_path)
    rows = []
    with zipfile.ZipFile(zip_path) as zf:
        for name in sorted(n for n in zf.namelist() if n.lower().endswith(".txt")):
            text = zf.read(name).decode("ascii", errors="replace")
            try:
                rows.append(np.array([float(v) for v in text.split()], dtype=np.float32))
            except ValueError as err:
                raise ValueError(f"{zip_path}:{name}: not one number per line ({err})") from None
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError(f"{zip_path}: expected segments of equal length, got {len(rows)} files")
    return np.stack(rows)
