"""The two value types every stage passes along: ``Event`` and ``Recording``.

Units: seconds for times, Hz for rates, microvolts for signals.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

#: Term-based (whole-recording, all channels) annotation channel name used by TUSZ csv_bi files.
TERM = "TERM"


@dataclass(frozen=True)
class Event:
    """One annotated interval.

    Attributes:
        start: onset in seconds from the start of the recording.
        stop: offset in seconds (``stop >= start``).
        label: the label as the source wrote it (TUSZ and detector labels are lower-case:
            ``"seiz"``, ``"fnsz"``, ``"bckg"``; EDF+ labels keep their case: ``"T0"``); compare
            with :func:`eegssm.io.annotations.is_seizure` / ``normalize_label``.
        channel: channel the event applies to, or ``TERM`` for all channels.
        confidence: probability/confidence in [0, 1] (1.0 for human annotations).
    """

    start: float
    stop: float
    label: str = "seiz"
    channel: str = TERM
    confidence: float = 1.0

    @property
    def duration(self) -> float:
        """Length of the event in seconds."""
        return self.stop - self.start


@dataclass
class Recording:
    """A multichannel EEG recording held in memory.

    Attributes:
        data: float32 array ``(C, T)`` in microvolts.
        sfreq: sampling rate in Hz.
        ch_names: ``C`` channel names (as found, or normalised by preprocessing).
        events: annotated events (seconds).
        meta: free-form metadata; readers set ``source`` (path), ``start_time`` (ISO string or
            None), ``duration`` (seconds) and ``subject`` (id or None) where known.
    """

    data: np.ndarray
    sfreq: float
    ch_names: list[str]
    events: list[Event] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.data.ndim != 2:
            raise ValueError(f"Recording.data must be (C, T), got shape {self.data.shape}")
        if len(self.ch_names) != self.data.shape[0]:
            raise ValueError(
                f"{len(self.ch_names)} channel names for {self.data.shape[0]} channels"
            )
        if not self.sfreq > 0:
            raise ValueError(f"sampling rate must be positive, got {self.sfreq}")

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_times(self) -> int:
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.n_times / self.sfreq

    def copy_with(self, **changes: Any) -> Recording:
        """A shallow copy with some fields replaced (``data``, ``sfreq``, ...)."""
        return replace(self, **changes)
