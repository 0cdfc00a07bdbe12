"""Turn annotation events into the seizure/background partition every NEDC method scores.

The Temple NEDC scorer (v6.0.0) first turns each file into contiguous events covering
``0 … duration``: gaps are background, and consecutive events of the same class are merged (so
two touching seizures are one target). With two classes that partition is fully described by the
sorted, disjoint, non-touching seizure intervals plus the file duration: :class:`SeizureTrack`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from eegssm.io.annotations.labels import is_seizure
from eegssm.io.types import Event

#: Ref and hyp files of a pair must end at the same time to this many decimals (NEDC: 1 ms).
DURATION_DECIMALS = 3
#: Scoring limits per file and side (:func:`check_limits`): every scorer handles this many
#: seizure events (after merging) in well under a minute and 1 GB ...
MAX_EVENTS = 20_000
#: ... and files up to this long (7 days; EPOCH and SzCORE memory grow with the duration).
MAX_DURATION_S = 7 * 86400.0


@dataclass(frozen=True)
class SeizureTrack:
    """The seizure intervals of one file after gap filling and merging.

    Attributes:
        intervals: float64 ``(K, 2)`` ``[start, stop]`` in seconds, sorted, disjoint and not
            touching (touching or overlapping seizures are merged), each with ``stop > start``.
        duration: file duration in seconds; background fills ``[0, duration]`` around seizures.
        name: file identifier (``bname``), for messages and per-file reports.
    """

    intervals: np.ndarray
    duration: float
    name: str = ""

    @property
    def starts(self) -> np.ndarray:
        return self.intervals[:, 0]

    @property
    def stops(self) -> np.ndarray:
        return self.intervals[:, 1]

    def __len__(self) -> int:
        return int(self.intervals.shape[0])


def merge_intervals(intervals: np.ndarray) -> np.ndarray:
    """Union of intervals, merging touching ones.

    Args:
        intervals: ``(K, 2)`` ``[start, stop]`` seconds, any order; empty intervals are dropped.

    Returns:
        ``(M, 2)`` sorted, disjoint, non-touching intervals.
    """
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    iv = iv[iv[:, 1] > iv[:, 0]]
    if iv.shape[0] == 0:
        return iv
    iv = iv[np.argsort(iv[:, 0], kind="stable")]
    # A new group starts where the start lies beyond every earlier stop.
    reach = np.maximum.accumulate(iv[:, 1])
    new_group = np.concatenate(([True], iv[1:, 0] > reach[:-1]))
    starts = iv[new_group, 0]
    stops = np.maximum.reduceat(iv[:, 1], np.flatnonzero(new_group))
    return np.stack([starts, stops], axis=1)


def seizure_track(
    events: Iterable[Event],
    duration: float,
    name: str = "",
    seizure_labels: Iterable[str] | None = None,
) -> SeizureTrack:
    """Build the :class:`SeizureTrack` of one annotation file.

    ``bckg`` rows are optional (gaps are background). Seizure intervals are clipped to
    ``[0, duration]``.

    Args:
        events: the file's events (any channel; TUSZ ``csv_bi`` files use ``TERM``).
        duration: file duration in seconds (the ``csv_bi`` header value).
        name: identifier kept for reports.
        seizure_labels: labels that count as seizure; default :func:`is_seizure` (``seiz`` and
            the TUSZ seizure types, collapsed into one class as NEDC's two-class map does).
    """
    if not duration > 0:
        raise ValueError(f"{name or 'annotation'}: duration must be positive, got {duration}")
    labels = None if seizure_labels is None else list(seizure_labels)
    iv = [(e.start, e.stop) for e in events if is_seizure(e.label, labels)]
    arr = np.clip(np.asarray(iv, dtype=np.float64).reshape(-1, 2), 0.0, float(duration))
    return SeizureTrack(merge_intervals(arr), float(duration), name)


def check_limits(*tracks: SeizureTrack) -> None:
    """Raise ``ValueError`` for a track beyond the scoring limits (:data:`MAX_EVENTS` seizure
    events, :data:`MAX_DURATION_S` seconds), naming the file."""
    for track in tracks:
        if len(track) > MAX_EVENTS:
            raise ValueError(
                f"{track.name or 'annotation'}: {len(track)} seizure events; the scorers handle "
                f"at most {MAX_EVENTS} per file (split the file)"
            )
        if track.duration > MAX_DURATION_S:
            raise ValueError(
                f"{track.name or 'annotation'}: duration {track.duration:.6g} s; the scorers "
                f"handle files of at most {MAX_DURATION_S:.0f} s (7 days; split the file)"
            )


def check_pair(ref: SeizureTrack, hyp: SeizureTrack) -> None:
    """Raise ``ValueError`` unless ref and hyp have the same duration (to 1 ms, as NEDC) and
    are within the scoring limits (:func:`check_limits`)."""
    check_limits(ref, hyp)
    if round(ref.duration, DURATION_DECIMALS) != round(hyp.duration, DURATION_DECIMALS):
        raise ValueError(
            f"duration mismatch: ref {ref.name or '?'} lasts {ref.duration} s but hyp "
            f"{hyp.name or '?'} lasts {hyp.duration} s; a ref/hyp pair must describe the same "
            "recording"
        )


def label_sequence(track: SeizureTrack) -> np.ndarray:
    """The class sequence of the file's contiguous events, ``True`` = seizure.

    Returns:
        bool ``(S,)``: alternating background/seizure runs from 0 to the duration.
    """
    k = len(track)
    if k == 0:
        return np.zeros(1, dtype=bool)
    seq = np.zeros(2 * k + 1, dtype=bool)
    seq[1::2] = True
    keep = np.ones(2 * k + 1, dtype=bool)
    keep[0] = track.starts[0] > 0.0
    keep[-1] = track.stops[-1] < track.duration
    return seq[keep]


def labels_at(track: SeizureTrack, times: np.ndarray) -> np.ndarray:
    """Seizure label at each time, a boundary time taking the earlier event's label.

    NEDC looks up the first event with ``start <= t <= stop``, so a time exactly on a boundary
    belongs to the event that ends there.

    Args:
        times: ``(N,)`` seconds.

    Returns:
        bool ``(N,)``.
    """
    t = np.asarray(times, dtype=np.float64)
    if len(track) == 0:
        return np.zeros(t.shape, dtype=bool)
    idx = np.searchsorted(track.starts, t, side="left") - 1  # last seizure with start < t
    inside = (idx >= 0) & (t <= track.stops[np.maximum(idx, 0)])
    # A seizure starting at 0 owns t == 0 (no earlier event).
    return inside | ((t == 0.0) & (track.starts[0] == 0.0))
