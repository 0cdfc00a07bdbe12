"""Cut a recording into fixed-length windows with per-sample seizure labels and a validity mask.

Windows start at ``0, S, 2S, ...`` samples (``W`` = window, ``S`` = stride, in samples) and the
last one always reaches the end of the recording: ``N = 1 + ceil(max(T - W, 0) / S)``. Samples
past the end are zeros with ``mask == False`` and label 0 (the zero-filled gaps of an EDF+D file,
``meta["gaps"]``, are masked too); a recording shorter than one window gives one zero-padded
window. Windows are taken with ``sliding_window_view`` (no Python loop over
windows or samples).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from eegssm.io.annotations.labels import is_seizure as _is_seizure_label
from eegssm.io.types import Event, Recording

EventPredicate = Callable[[Event], bool]


class WindowClass(IntEnum):
    """How much of a window's valid part is seizure."""

    NONE = 0
    PARTIAL = 1
    FULL = 2


@dataclass
class Windows:
    """Windows of one recording.

    Attributes:
        x: ``(N, C, W)`` float32 signal windows.
        y: ``(N, W)`` uint8 per-sample labels (1 = seizure).
        mask: ``(N, W)`` bool, False on padding past the end of the recording and inside the
            gaps of an EDF+D file (``recording.meta["gaps"]``).
        starts: ``(N,)`` int64 first sample of each window (at ``sfreq``).
        sfreq: sampling rate (Hz).
        ch_names: the ``C`` channel names.
    """

    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    starts: np.ndarray
    sfreq: float
    ch_names: list[str]

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def start_times(self) -> np.ndarray:
        """``(N,)`` window onsets in seconds."""
        return self.starts / self.sfreq

    @property
    def classes(self) -> np.ndarray:
        """``(N,)`` :class:`WindowClass` values (see :func:`window_classes`)."""
        return window_classes(self.y, self.mask)


def seizure_predicate(labels: Iterable[str] | None = None) -> EventPredicate:
    """Event predicate: label in ``labels`` (any case), or by default the io label rule.

    The default is :func:`eegssm.io.annotations.labels.is_seizure` (TUSZ seizure labels, ``seiz``
    and the seizure types, plus HED-SCORE ``sz``/``sz_*``). Events on any channel count.
    """
    label_set = None if labels is None else list(labels)
    return lambda event: _is_seizure_label(event.label, label_set)


def sample_labels(
    events: Sequence[Event],
    n_times: int,
    sfreq: float,
    is_seizure: EventPredicate | None = None,
) -> np.ndarray:
    """``(T,)`` uint8 label per sample: 1 where a seizure event covers it.

    Sample ``i`` (time ``i / sfreq``) is inside ``[start, stop)`` when
    ``round(start * sfreq) <= i < round(stop * sfreq)``; events are clipped to the recording.
    """
    pred = is_seizure or seizure_predicate()
    labels = np.zeros(n_times, dtype=np.uint8)
    for ev in events:
        if pred(ev):
            a = max(0, int(round(ev.start * sfreq)))
            b = min(n_times, int(round(ev.stop * sfreq)))
            if b > a:
                labels[a:b] = 1
    return labels


def n_windows(n_times: int, window: int, stride: int) -> int:
    """Number of windows of ``window`` samples at ``stride`` covering ``n_times`` samples (>= 1)."""
    if window <= 0 or stride <= 0:
        raise ValueError(f"window and stride must be positive, got {window}, {stride}")
    return 1 + math.ceil(max(n_times - window, 0) / stride)


def _windowed(a: np.ndarray, window: int, stride: int, n: int) -> np.ndarray:
    """``(..., T)`` → zero-padded ``(..., N, W)`` strided view of a padded copy."""
    total = (n - 1) * stride + window
    if a.shape[-1] != total:
        padded = np.zeros(a.shape[:-1] + (total,), dtype=a.dtype)
        length = min(a.shape[-1], total)
        padded[..., :length] = a[..., :length]
        a = padded
    return sliding_window_view(a, window, axis=-1)[..., ::stride, :]


def make_windows(
    recording: Recording,
    window_s: float,
    stride_s: float | None = None,
    is_seizure: EventPredicate | None = None,
    labels: Iterable[str] | None = None,
    copy: bool = True,
) -> Windows:
    """Cut ``recording`` into windows with labels and a mask.

    Args:
        recording: ``(C, T)`` at ``sfreq`` Hz, with events in seconds.
        window_s: window length (s); rounded to whole samples.
        stride_s: stride (s), default ``window_s`` (no overlap).
        is_seizure: predicate choosing seizure events; overrides ``labels``.
        labels: seizure label set (case-insensitive); default: the io seizure-label rule.
        copy: True returns contiguous arrays; False returns read-only strided views of a padded
            copy (no per-window memory; fine for writing to a cache).

    Returns:
        :class:`Windows` with ``x (N, C, W)`` float32, ``y (N, W)`` uint8, ``mask (N, W)`` bool.
    """
    sfreq = float(recording.sfreq)
    window = int(round(window_s * sfreq))
    stride = int(round((stride_s if stride_s is not None else window_s) * sfreq))
    pred = is_seizure or seizure_predicate(labels)
    data = np.asarray(recording.data, dtype=np.float32)
    t = data.shape[1]
    n = n_windows(t, window, stride)

    x = _windowed(data, window, stride, n).transpose(1, 0, 2)  # (N, C, W)
    y = _windowed(sample_labels(recording.events, t, sfreq, pred), window, stride, n)
    valid = np.ones(t, dtype=bool)
    for a, b in recording.meta.get("gaps") or ():  # EDF+D pauses, filled with zeros
        valid[max(0, int(round(a * sfreq))) : max(0, int(round(b * sfreq)))] = False
    mask = _windowed(valid, window, stride, n)
    if copy:
        x, y, mask = (np.ascontiguousarray(a) for a in (x, y, mask))
    starts = np.arange(n, dtype=np.int64) * stride
    return Windows(x, y, mask, starts, sfreq, list(recording.ch_names))


def window_classes(y: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-window class from per-sample labels.

    Args:
        y: ``(N, W)`` labels (nonzero = seizure).
        mask: ``(N, W)`` validity; padding is ignored. None: all samples valid.

    Returns:
        ``(N,)`` int8 :class:`WindowClass`: NONE (no seizure sample), FULL (every valid sample
        seizure), PARTIAL (otherwise). A window with no valid sample is NONE.
    """
    seiz = np.asarray(y) != 0
    valid = np.ones_like(seiz) if mask is None else np.asarray(mask, dtype=bool)
    n_seiz = (seiz & valid).sum(axis=-1)
    n_valid = valid.sum(axis=-1)
    out = np.full(seiz.shape[0], WindowClass.PARTIAL, dtype=np.int8)
    out[n_seiz == 0] = WindowClass.NONE
    out[(n_seiz == n_valid) & (n_seiz > 0)] = WindowClass.FULL
    return out
