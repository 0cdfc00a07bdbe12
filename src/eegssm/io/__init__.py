"""Reading recordings and annotations.

| module | owns |
|---|---|
| ``types`` | ``Recording``, ``Event``, ``TERM`` |
| ``read`` | ``read_recording`` (→ µV ``Recording``), ``from_mne``, ``open_recording`` |
| ``edf_header`` | checking the EDF/BDF header, native per-signal rates |
| ``channels`` | non-EEG channel detection, selection by name |
| ``errors`` | ``EEGReadError``, ``EEGReadWarning`` |
| ``annotations`` | csv_bi, TUSZ csv, CHB-MIT, Siena, BIDS/SzCORE TSV, EDF+ readers/writers |

mne is imported when a recording is read, not when this package is imported.
"""

from eegssm.io.errors import EEGReadError, EEGReadWarning
from eegssm.io.read import (
    RecordingSource,
    as_recording,
    from_mne,
    open_recording,
    read_recording,
    recording_from_raw,
)
from eegssm.io.types import TERM, Event, Recording

__all__ = [
    "TERM",
    "EEGReadError",
    "EEGReadWarning",
    "Event",
    "Recording",
    "as_recording",
    "from_mne",
    "RecordingSource",
    "open_recording",
    "read_recording",
    "recording_from_raw",
]
