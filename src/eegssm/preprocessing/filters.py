"""Resampling, zero-phase filtering and per-channel normalisation of ``(C, T)`` arrays.

All functions take and return float32 ``(C, T)`` arrays (µV in, µV or unitless out); rates and
cut-offs are in Hz. Filters are designed and run by :mod:`eegssm.preprocessing.iir` (the maths
of scipy.signal's ``butter``, ``iirnotch`` and ``sosfiltfilt`` with numpy, and a C cascade over
all channels at once, in double: 3.5e-8 of the signal RMS from scipy's float64 result for the
seizure preset, 0.5–120 Hz band-pass + 60/120 Hz notch at 256 Hz), so preprocessing a file at the
model's rate never imports scipy.signal. Without the C extension, scipy.signal filters channel
by channel in float32 (1e-4 of the RMS, far below EEG noise) or, with ``dtype=np.float64``, in
double.

Resampling (``scipy.signal.resample_poly``) and the scipy filter path run channel by channel on
all cores (:func:`by_rows`: scipy's loops release the GIL; each channel is computed as it would
be alone, so the result is bit for bit that of one call).
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from eegssm.preprocessing import iir

#: Upper band edges at or above this fraction of Nyquist are lowered (with a warning) ...
NYQUIST_GUARD = 0.95
#: ... to this fraction of Nyquist.
NYQUIST_TARGET = 0.9


def _signal():
    """``scipy.signal``, imported on first use (~0.8 s): settings and presets can be read
    without it, e.g. in the process that loads the model while another reads the file.

    When another thread is importing PyTorch (a model loading in the background), this waits
    for that import to finish: scipy's array-API checks look PyTorch up in ``sys.modules`` and
    fail on a half-imported module (``partially initialized module 'torch' has no attribute
    'Tensor'``, seen intermittently on recordings that need resampling)."""
    if "torch" in sys.modules:
        import torch  # noqa: F401 - blocks until a concurrent import of it has finished
    from scipy import signal

    return signal


#: Arrays with at least this many samples in all are filtered / resampled on several threads.
PARALLEL_MIN_SAMPLES = 1 << 20


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


#: Samples per task of :func:`by_rows` (a few channels at a time: each worker thread's
#: temporaries stay a few MB, so the heaps of the threads do not keep blocks' worth of memory).
TASK_SAMPLES = 1 << 20


def by_rows(fn: Callable[[np.ndarray], np.ndarray], data: np.ndarray) -> np.ndarray:
    """``fn(data)`` for ``fn`` acting on each row of ``data (C, T)`` independently along the
    last axis, computed on up to :func:`cpu_count` threads, a few rows
    (:data:`TASK_SAMPLES`) per task, when ``data`` is large (:data:`PARALLEL_MIN_SAMPLES`); the
    same values as one call. Each task's result is copied into the output when ready."""
    workers = min(cpu_count(), data.shape[0]) if data.ndim == 2 else 1
    if workers < 2 or data.size < PARALLEL_MIN_SAMPLES:
        return fn(data)
    rows = max(1, TASK_SAMPLES // data.shape[1])
    out: list[np.ndarray] = []
    lock = threading.Lock()

    def run(lo: int) -> None:
        hi = min(lo + rows, data.shape[0])
        part = fn(data[lo:hi])
        with lock:
            if not out:
                out.append(np.empty((data.shape[0], *part.shape[1:]), dtype=part.dtype))
        out[0][lo:hi] = part

    list(_pool(workers).map(run, range(0, data.shape[0], rows)))  # re-raises a task's error
    return out[0]


_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads kept for the process: the same threads (and so the same
    few malloc heaps) serve every call, where new threads per call spread a long run's
    temporaries over new heaps (peak memory of a 24-h ``detect`` varied by ~150 MiB)."""
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="eegssm-filter")
    return _POOLS[workers]


#: An exact ratio of two decimal rates is used when its ``down`` factor is at most this
#: (``100 kHz → 256 Hz`` is ``8/3125``), even above ``max_denominator``.
EXACT_MAX_DENOMINATOR = 10_000


def resample_factors(sfreq_in: float, sfreq_out: float, max_denominator: int = 1000) -> Fraction:
    """Rational ``up/down`` factor equal or closest to ``sfreq_out / sfreq_in``.

    The exact ratio of the rates as written in decimal is used when its ``down`` is at most
    ``max(max_denominator, EXACT_MAX_DENOMINATOR)``; otherwise the closest fraction with
    ``down <= max_denominator``.

    Example: ``500 → 256`` gives ``64/125`` and ``100000 → 256`` gives ``8/3125`` (exact);
    ``173.61 → 256`` an approximation.
    """
    if not (sfreq_in > 0 and sfreq_out > 0) or not np.isfinite([sfreq_in, sfreq_out]).all():
        raise ValueError(f"sampling rates must be positive, got {sfreq_in} -> {sfreq_out}")
    exact = Fraction(str(float(sfreq_out))) / Fraction(str(float(sfreq_in)))
    if exact.denominator <= max(max_denominator, EXACT_MAX_DENOMINATOR):
        return exact
    return Fraction(sfreq_out / sfreq_in).limit_denominator(max_denominator)


def resample(
    data: np.ndarray, sfreq_in: float, sfreq_out: float, max_denominator: int = 1000
) -> tuple[np.ndarray, float]:
    """Polyphase resampling along the last axis (``scipy.signal.resample_poly``).

    Args:
        data: ``(C, T)`` (or ``(T,)``) float32.
        sfreq_in: input rate (Hz).
        sfreq_out: wanted rate (Hz).
        max_denominator: largest ``down`` factor of the rational approximation.

    Returns:
        ``(data_out, sfreq_actual)``: ``(C, ceil(T * up / down))`` float32 and the rate actually
        reached, ``sfreq_in * up / down`` (equal to ``sfreq_out`` when the ratio is rational
        within the limit, otherwise within ``1 / max_denominator`` relative).
    """
    factor = resample_factors(sfreq_in, sfreq_out, max_denominator)
    data = np.asarray(data, dtype=np.float32)
    if factor == 1:
        return data, float(sfreq_in)
    out = by_rows(
        lambda d: _signal().resample_poly(d, factor.numerator, factor.denominator, axis=-1), data
    )
    actual = float(sfreq_in) * factor.numerator / factor.denominator
    if abs(actual - sfreq_out) > 1e-9 * sfreq_out:
        warnings.warn(
            f"resampling {sfreq_in} Hz by {factor} reaches {actual:.6g} Hz, not {sfreq_out} Hz",
            UserWarning,
            stacklevel=2,
        )
    return np.asarray(out, dtype=np.float32), actual


def safe_upper_edge(h_freq: float, sfreq: float) -> float:
    """``h_freq`` lowered to ``0.9 * Nyquist`` (with a warning) when it is ``>= 0.95 * Nyquist``."""
    nyq = sfreq / 2.0
    if h_freq >= NYQUIST_GUARD * nyq:
        new = NYQUIST_TARGET * nyq
        warnings.warn(
            f"band-pass upper edge {h_freq} Hz is too close to Nyquist ({nyq} Hz) at "
            f"{sfreq} Hz; using {new:.4g} Hz",
            UserWarning,
            stacklevel=3,
        )
        return new
    return float(h_freq)


def bandpass_sos(
    sfreq: float, l_freq: float | None, h_freq: float | None, order: int = 4
) -> np.ndarray:
    """Butterworth second-order sections for a high-, low- or band-pass (float64 ``(S, 6)``).

    ``l_freq``/``h_freq`` are the -3 dB edges of *one* pass (Hz); filtering forward and backward
    squares the magnitude, so they are -6 dB edges of the zero-phase result. ``None`` for either
    edge gives a low- or high-pass; both ``None`` gives an empty ``(0, 6)`` cascade.
    """
    if h_freq is not None:
        h_freq = safe_upper_edge(h_freq, sfreq)
    if l_freq is not None and l_freq <= 0:
        l_freq = None
    if l_freq is not None and h_freq is not None:
        if l_freq >= h_freq:
            raise ValueError(f"band-pass needs l_freq < h_freq, got {l_freq}, {h_freq}")
        return iir.butter_sos(order, (l_freq, h_freq), "bandpass", sfreq)
    if l_freq is not None:
        return iir.butter_sos(order, l_freq, "highpass", sfreq)
    if h_freq is not None:
        return iir.butter_sos(order, h_freq, "lowpass", sfreq)
    return np.zeros((0, 6))


def notch_frequencies(sfreq: float, line_freq: float, quality: float = 30.0) -> list[float]:
    """Line frequency and its harmonics whose notch fits below Nyquist (Hz)."""
    nyq = sfreq / 2.0
    half_width = line_freq / quality / 2.0
    freqs = []
    k = 1
    while k * line_freq + half_width < nyq:
        freqs.append(k * line_freq)
        k += 1
    return freqs


def notch_sos(sfreq: float, line_freq: float, quality: float = 30.0) -> np.ndarray:
    """Second-order sections of ``iirnotch`` filters at ``line_freq`` and harmonics < Nyquist.

    Each notch has quality factor ``quality`` (-3 dB width ``f / quality`` for one pass).
    """
    sections = [
        iir.notch_section(f, quality, sfreq) for f in notch_frequencies(sfreq, line_freq, quality)
    ]
    return np.vstack(sections) if sections else np.zeros((0, 6))


def design_filter(
    sfreq: float,
    l_freq: float | None = None,
    h_freq: float | None = None,
    notch: float | tuple[float, ...] | None = None,
    order: int = 4,
    notch_quality: float = 30.0,
) -> np.ndarray:
    """One SOS cascade (float64 ``(S, 6)``): band-pass then notches, for a single filtfilt pass.

    ``notch``: one line frequency or several (e.g. ``(50, 60)`` for recordings from either
    mains); each is notched with its harmonics below Nyquist.
    """
    parts = [bandpass_sos(sfreq, l_freq, h_freq, order)]
    for line in (notch,) if isinstance(notch, float | int) else notch or ():
        parts.append(notch_sos(sfreq, line, notch_quality))
    return np.vstack(parts)


def filtfilt(
    data: np.ndarray, sos: np.ndarray, dtype: type = np.float32, overwrite: bool = False
) -> np.ndarray:
    """Zero-phase filtering (``scipy.signal.sosfiltfilt`` with its default odd padding) along
    the last axis.

    Runs in C on all channels at once (:func:`eegssm.preprocessing.iir.sosfiltfilt`, arithmetic
    in double) where the extension is built, else with scipy.signal channel by channel in
    ``dtype``.

    Args:
        data: ``(C, T)`` or ``(T,)``.
        sos: ``(S, 6)`` second-order sections (an empty cascade returns the input as float32).
        dtype: arithmetic precision of the scipy path (float32 default; float64 for reference
            results); the C path computes in double either way.
        overwrite: ``data`` may be filtered in place (when it is float32 and C-contiguous; the
            caller must not need it afterwards).

    Returns:
        float32 array, same shape as ``data``.
    """
    data = np.asarray(data)
    if len(sos) == 0:
        return data.astype(np.float32, copy=False)
    if iir.available() and data.ndim in (1, 2):
        fits = data.dtype == np.float32 and data.flags.c_contiguous and data.flags.writeable
        out = data if overwrite and fits else np.array(data, dtype=np.float32, order="C")
        iir.sosfiltfilt(out.reshape(-1, out.shape[-1]), sos, threads=cpu_count())
        return out
    sos = np.asarray(sos, dtype=dtype)
    out = by_rows(lambda d: _signal().sosfiltfilt(sos, d.astype(dtype, copy=False), axis=-1), data)
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class Normalization:
    """Per-channel affine normalisation ``clip((x - center) · scale, ±clip)`` of ``(C, T)`` data.

    The statistics of a whole recording (:func:`zscore_normalization`,
    :func:`percentile_normalization`) applied to it or to any stretch of it; a cache stores them
    beside the un-normalised signal (:mod:`eegssm.data.cache`). A channel whose ``scale`` is 0
    (flat, or zero spread) becomes all zeros.

    Attributes:
        center: ``(C,)`` float32 subtracted first (0 for scaling without centring).
        scale: ``(C,)`` float32 multiplier (unitless per µV).
        clip: ``±clip`` bound of the result, or None.
    """

    center: np.ndarray
    scale: np.ndarray
    clip: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "center", np.asarray(self.center, dtype=np.float32).ravel())
        object.__setattr__(self, "scale", np.asarray(self.scale, dtype=np.float32).ravel())
        if self.center.shape != self.scale.shape:
            raise ValueError(f"center {self.center.shape} and scale {self.scale.shape} differ")

    def apply(
        self, data: np.ndarray, centered: bool = False, overwrite: bool = False
    ) -> np.ndarray:
        """Normalise ``data (C, T)`` (or ``(C,)``-leading ``(C, ...)``); float32, a new array
        (unless ``overwrite``).

        ``centered``: ``data`` already has ``center`` subtracted (as stored in a cache).
        ``overwrite``: normalise ``data`` itself when it is a writable float32 array (then
        returned; the caller must not need the input).
        """
        data = np.asarray(data)
        if overwrite and data.dtype == np.float32 and data.flags.writeable:
            out = data
        else:
            out = np.array(data, dtype=np.float32)  # a copy, whatever the input dtype
        shape = (-1,) + (1,) * (out.ndim - 1)
        if not centered:
            out -= self.center.reshape(shape)
        out *= self.scale.reshape(shape)
        if self.clip is not None:
            np.clip(out, -self.clip, self.clip, out=out)
        zero = self.scale == 0
        if zero.any():
            out[zero] = 0.0
        return out

    def with_zeroed(self, channels: np.ndarray) -> Normalization:
        """The same normalisation with the channels where ``channels`` (``(C,)`` bool) is True
        zeroed (flat channels: their scale is filter round-off, normalising would blow it up)."""
        scale = self.scale.copy()
        scale[np.asarray(channels, dtype=bool)] = 0.0
        return Normalization(self.center, scale, self.clip)

    def to_dict(self) -> dict:
        """JSON-able form (float32 values are exact as JSON numbers)."""
        return {
            "center": [float(v) for v in self.center],
            "scale": [float(v) for v in self.scale],
            "clip": self.clip,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(np.asarray(d["center"]), np.asarray(d["scale"]), d.get("clip"))


def channel_moments(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of ``data (..., T)``, accumulated in float64:
    ``(...)`` each, as ``data.mean(-1, dtype=float64)`` and ``data.std(-1, dtype=float64)``
    (NaN for no samples).

    One channel at a time: numpy's ``std`` over the whole array makes two float64 temporaries of
    its size (280 MB for an hour of 19 channels at 256 Hz; ~0.7 s of fresh pages), this keeps
    one channel's (7 MB)."""
    data = np.asarray(data)
    n = data.shape[-1]
    rows = data.reshape(int(np.prod(data.shape[:-1])), n)
    mean, std = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    for i in range(len(rows) if n else 0):
        row = rows[i].astype(np.float64)
        mean[i] = row.mean()
        row -= mean[i]
        std[i] = np.sqrt(np.dot(row, row) / n)
    return mean.reshape(data.shape[:-1]), std.reshape(data.shape[:-1])


def zscore_normalization(
    data: np.ndarray | None = None,
    clip: float | None = 10.0,
    mean: np.ndarray | None = None,
    std: np.ndarray | None = None,
) -> Normalization:
    """Per-channel z-score ``(x - mean) / std`` of ``data (C, T)``, or with given ``mean`` and
    ``std`` (``(C,)`` or ``(C, 1)``; float64 is fine). Statistics are accumulated in float64;
    ``std == 0`` gives a zero channel."""
    if mean is None or std is None:
        mean, std = channel_moments(np.asarray(data, dtype=np.float32))
    std = np.asarray(std, dtype=np.float64).ravel()
    scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > 0)
    return Normalization(np.asarray(mean).ravel(), scale, clip)


def fixed_normalization(
    n_channels: int, scale_uv: float, clip: float | None = 10.0
) -> Normalization:
    """``x / scale_uv`` on every channel (no statistics: the amplitude in µV is kept)."""
    zeros = np.zeros(n_channels, dtype=np.float32)
    return Normalization(zeros, np.full(n_channels, 1.0 / scale_uv, dtype=np.float32), clip)


def percentile_normalization(
    data: np.ndarray, q: float = 95.0, clip: float | None = None
) -> Normalization:
    """Per-channel scaling ``x / percentile(|x|, q)`` of ``data (C, T)`` as in EEGM2 (no
    centring; a channel whose percentile is 0 is left unscaled)."""
    data = np.asarray(data, dtype=np.float32)
    ref = np.percentile(np.abs(data), q, axis=-1)
    scale = np.divide(1.0, ref, out=np.ones_like(ref), where=ref > 0)
    return Normalization(np.zeros(len(scale), dtype=np.float32), scale, clip)


def zscore(data: np.ndarray, clip: float | None = 10.0) -> np.ndarray:
    """Per-channel z-score ``(x - mean) / std``, clipped to ``±clip`` (``(C, T)`` float32).

    Statistics are accumulated in float64. Flat channels (std 0) become zeros.
    """
    return zscore_normalization(data, clip).apply(data)


def standardize(
    data: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: float | None = 10.0
) -> np.ndarray:
    """``(x - mean) / std`` per channel with given statistics, clipped to ``±clip``.

    Args:
        data: ``(C, T)``.
        mean, std: ``(C, 1)`` (float64 is fine; applied in float32). ``std == 0`` gives zeros.

    Returns:
        float32 ``(C, T)``.
    """
    return zscore_normalization(clip=clip, mean=mean, std=std).apply(data)


def fixed_scale(data: np.ndarray, scale_uv: float, clip: float | None = 10.0) -> np.ndarray:
    """``x / scale_uv`` clipped to ``±clip`` (``(C, T)`` µV → float32 units of ``scale_uv``).

    Keeps what z-scoring throws away: the amplitude in µV (a 90 µV ictal rhythm and an 8 µV
    background stay 11× apart) and the amplitude of each channel relative to the others. Needs
    no statistics, so a 10-s file, a block of a long one and a live stream are scaled alike.
    """
    return fixed_normalization(len(data), scale_uv, clip).apply(data)


def percentile_scale(data: np.ndarray, q: float = 95.0, clip: float | None = None) -> np.ndarray:
    """Per-channel scaling ``x / percentile(|x|, q)`` as in EEGM2 (``(C, T)`` float32).

    No centring. Channels whose percentile is 0 are left unscaled. Optional ``±clip``.
    """
    return percentile_normalization(data, q, clip).apply(data)
