"""The preprocessing pipeline: montage → resample → filter → normalise (→ windows).

Every stage is linear and per-channel except the montage (a channel mix) and normalisation, so
the montage runs first (it usually reduces the channel count), resampling next (filtering then runs
at the lower rate), then one zero-phase SOS cascade (band-pass + notches), then normalisation.

Presets (:data:`PRESETS`, :func:`get_preset`):

- ``"seizure"`` (Brain-Go-Brr v4, after SeizureTransformer, Wu et al. 2025): 19 referential
  channels, 256 Hz, 0.5–120 Hz band-pass, 60 Hz notch (and 120 Hz), per-channel z-score clipped to
  ±10, windows 60 s with stride 10 s.
- ``"eegm2"`` (EEGM2, Hong et al. 2025): 19 referential channels, 128 Hz, per-channel scaling by the
  95th percentile of ``|x|``, windows 10 s without overlap; no band-pass or notch (the resampler's
  anti-alias filter is the only low-pass).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from eegssm.io.types import Recording
from eegssm.preprocessing import filters, iir
from eegssm.preprocessing.montages import apply_montage
from eegssm.preprocessing.windowing import Windows, make_windows

#: Upsampling by more than this factor warns: the added band holds no recorded signal.
MAX_UPSAMPLING = 4.0
#: Upsampling by more than this factor is refused before anything is allocated (1 Hz → 256 Hz
#: is 256; a damaged header claiming 1e6-second records would ask for 1e6 and tens of GB).
MAX_RESAMPLE_RATIO = 1000.0


class PreprocessError(ValueError):
    """A recording cannot be preprocessed as asked; the message names the source file."""


class NonFiniteSignalError(PreprocessError):
    """NaN or inf samples in the channels a montage uses (never passed on to a model)."""


class PreprocessConfig(BaseModel):
    """Settings of :func:`preprocess` (seconds and Hz).

    Attributes:
        montage: montage name (``"ref19"``, ``"tcp"``, ``"double_banana"``, ``"chbmit23"``,
            ``"as_is"``).
        input_montage: how the input labels are read: ``"auto"`` (from the labels),
            ``"referential"`` or ``"bipolar"`` (see ``montages.describe_input``).
        missing: ``"interpolate"``, ``"raise"`` or ``"drop"`` for channels the montage cannot make.
        max_missing: with ``missing="drop"``, the most montage channels that may be left out.
        ears: ``"zero"``, ``"interpolate"`` or ``"raise"`` for missing A1/A2 (TCP only).
        flat_uv: input EEG channels whose RMS about their mean is below this (µV) are flat (a
            disconnected amplifier): left out with a warning, as if missing (None: keep them).
        sfreq: output rate in Hz, or None to keep the input rate.
        l_freq, h_freq: band-pass edges in Hz (None: no high-/low-pass).
        filter_order: Butterworth order of one pass.
        notch: line frequency or frequencies (50 and/or 60 Hz; harmonics below Nyquist too), or
            None.
        notch_quality: quality factor of each notch.
        normalize: ``"zscore"`` (per channel, over the recording), ``"p95"`` (EEGM2 scaling),
            ``"fixed"`` (``x / scale_uv``: the amplitude in µV is kept) or None.
        scale_uv: µV per unit for ``normalize="fixed"``.
        clip: clip normalised values to ``±clip`` (None: no clipping).
        filter_dtype: ``"float32"`` (default, measured accurate to ~1e-4 RMS) or ``"float64"``.
        window_s, stride_s: window length and stride for :func:`eegssm.preprocessing.windowing`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    montage: str = "ref19"
    input_montage: Literal["auto", "referential", "bipolar"] = "auto"
    missing: Literal["interpolate", "raise", "drop"] = "interpolate"
    max_missing: int | None = Field(None, ge=0)
    ears: Literal["zero", "interpolate", "raise"] = "zero"
    flat_uv: float | None = Field(0.1, ge=0)
    sfreq: float | None = Field(256.0, gt=0)
    l_freq: float | None = Field(0.5, ge=0)
    h_freq: float | None = Field(120.0, gt=0)
    filter_order: int = Field(4, ge=1, le=10)
    notch: float | tuple[float, ...] | None = 60.0
    notch_quality: float = Field(30.0, gt=0)
    normalize: Literal["zscore", "p95", "fixed"] | None = "zscore"
    scale_uv: float = Field(50.0, gt=0)
    clip: float | None = Field(10.0, gt=0)
    filter_dtype: Literal["float32", "float64"] = "float32"
    window_s: float = Field(60.0, gt=0)
    stride_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _check_band(self) -> PreprocessConfig:
        if self.l_freq is not None and self.h_freq is not None and self.l_freq >= self.h_freq:
            raise ValueError(f"l_freq ({self.l_freq}) must be below h_freq ({self.h_freq})")
        notches = (self.notch,) if isinstance(self.notch, float | int) else self.notch or ()
        if any(not f > 0 for f in notches):
            raise ValueError(f"notch frequencies must be positive, got {self.notch}")
        return self

    @property
    def notches(self) -> tuple[float, ...]:
        """The notch (line) frequencies as a tuple (empty: no notch)."""
        if self.notch is None:
            return ()
        return (float(self.notch),) if isinstance(self.notch, float | int) else self.notch

    def montage_kwargs(self) -> dict:
        """Keyword arguments of :func:`~eegssm.preprocessing.montages.apply_montage`."""
        return dict(
            montage=self.montage,
            missing=self.missing,
            ears=self.ears,
            input_montage=self.input_montage,
            max_missing=self.max_missing,
        )


PRESETS: dict[str, PreprocessConfig] = {
    "seizure": PreprocessConfig(),
    "eegm2": PreprocessConfig(
        sfreq=128.0,
        l_freq=None,
        h_freq=None,
        notch=None,
        normalize="p95",
        clip=None,
        window_s=10.0,
        stride_s=10.0,
    ),
}


def get_preset(name: str, **overrides: object) -> PreprocessConfig:
    """A preset config (``"seizure"``, ``"eegm2"``), optionally with fields overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return PRESETS[name].model_copy(update=overrides) if overrides else PRESETS[name]


def normalise(data: np.ndarray, cfg: PreprocessConfig) -> np.ndarray:
    """``(C, T)`` filtered µV → normalised as ``cfg.normalize`` says (unchanged when None):
    :func:`fit_normalization` on ``data`` applied to it."""
    norm = fit_normalization(data, cfg)
    return np.asarray(data, dtype=np.float32) if norm is None else norm.apply(data)


def preprocess(
    recording: Recording,
    config: PreprocessConfig | str = "seizure",
    timings: dict[str, float] | None = None,
    normalize: bool = True,
) -> Recording:
    """Montage, resample, filter and normalise a recording.

    Args:
        recording: ``(C, T)`` µV at any rate, raw channel labels.
        config: a :class:`PreprocessConfig` or a preset name.
        timings: if given, filled with wall seconds per stage (``montage``, ``resample``,
            ``filter``, ``normalise``).
        normalize: False returns the filtered signal in µV, not normalised; the normalisation
            the config asks for is still fitted and put in ``meta["normalization"]``
            (``Normalization.from_dict(...).apply(data)`` is then the normalised output, bit
            for bit).

    Returns:
        A new recording ``(C_out, T')`` float32 at ``config.sfreq`` (µV if ``normalize`` is None,
        unitless otherwise); events unchanged (seconds). ``meta["preprocess"]`` holds the config
        as a dict, ``meta["normalization"]`` the fitted
        :class:`~eegssm.preprocessing.filters.Normalization` as a dict (``Normalization.
        from_dict``; None without normalisation), and
        ``meta`` the montage report (see :func:`apply_montage`).

    Raises:
        NonFiniteSignalError: NaN/inf samples in a channel the montage uses (no repair is
            attempted: interpolating over them would hide a recording fault), or non-finite
            values after filtering (overflow).
        PreprocessError: a recording too short for the zero-phase filter; an absurd sampling
            rate or resampling factor (:func:`check_rate`).

    Warns:
        UserWarning: upsampling by more than :data:`MAX_UPSAMPLING` (e.g. a 1 Hz file to 256 Hz).

    Flat channels (constant after the montage) are all zeros in a normalised output and listed
    in ``meta["flat"]``.
    """
    cfg = get_preset(config) if isinstance(config, str) else config
    clock = _Clock(timings)
    source = recording.meta.get("source") or "recording"

    check_rate(source, float(recording.sfreq), cfg.sfreq, stacklevel=3)  # before any work
    recording = drop_flat_channels(recording, cfg.flat_uv, source)
    rec = clock("montage", lambda: apply_montage(recording, **cfg.montage_kwargs()))
    _check_finite(rec.data, rec.ch_names, source, recording, "")
    flat = flat_rows(rec.data)
    data, sfreq = rec.data, float(rec.sfreq)

    if cfg.sfreq is not None and cfg.sfreq != sfreq:
        data, sfreq = clock("resample", filters.resample, data, sfreq, cfg.sfreq)

    sos = filters.design_filter(
        sfreq, cfg.l_freq, cfg.h_freq, cfg.notches, cfg.filter_order, cfg.notch_quality
    )
    check_length(data.shape[-1], sos, sfreq, source)
    own = not np.may_share_memory(data, recording.data)  # made here: may be changed in place
    dtype = np.dtype(cfg.filter_dtype).type
    data = clock("filter", filters.filtfilt, data, sos, dtype, own)

    norm = clock("normalise", fit_normalization, data, cfg, flat)
    if normalize and norm is not None:
        data = clock("normalise", norm.apply, data, False, True)
    _check_finite(data, rec.ch_names, source, None, " after filtering (overflow: absurd values?)")

    meta = dict(rec.meta, preprocess=cfg.model_dump())
    meta["normalization"] = None if norm is None else norm.to_dict()
    meta["flat"] = [name for name, f in zip(rec.ch_names, flat) if f]
    return rec.copy_with(data=np.asarray(data, dtype=np.float32), sfreq=sfreq, meta=meta)


class FlatRecordingError(PreprocessError):
    """Every EEG channel of a recording is flat (a disconnected amplifier): nothing to score."""


def flat_channels(data: np.ndarray, names: list[str], flat_uv: float) -> list[str]:
    """EEG channels of ``data (C, T)`` µV whose RMS about their mean is below ``flat_uv``."""
    from eegssm.io.channels import is_non_eeg

    if data.shape[-1] == 0:
        return []
    rms = filters.channel_moments(data)[1]
    return [n for n, r in zip(names, rms) if r < flat_uv and not is_non_eeg(n)]


def drop_flat_channels(recording: Recording, flat_uv: float | None, source: str) -> Recording:
    """``recording`` without its flat EEG channels (warned, by name); ``meta["flat_inputs"]``.

    Raises:
        FlatRecordingError: every EEG channel is flat.
    """
    if flat_uv is None:
        return recording
    flat = flat_channels(recording.data, recording.ch_names, flat_uv)
    if not flat:
        return recording
    from eegssm.io.channels import is_non_eeg

    eeg = [n for n in recording.ch_names if not is_non_eeg(n)]
    if len(flat) == len(eeg):
        raise FlatRecordingError(
            f"{source}: all {len(eeg)} EEG channels are flat (RMS below {flat_uv:g} µV): a "
            "disconnected amplifier or an empty recording; nothing to analyse"
        )
    warnings.warn(
        f"{source}: flat channel(s) {', '.join(flat)} (RMS below {flat_uv:g} µV) left out, "
        "treated as missing",
        UserWarning,
        stacklevel=3,
    )
    keep = [i for i, n in enumerate(recording.ch_names) if n not in flat]
    meta = dict(recording.meta, flat_inputs=flat)
    return recording.copy_with(
        data=recording.data[keep], ch_names=[recording.ch_names[i] for i in keep], meta=meta
    )


def check_rate(source: str, sfreq_in: float, sfreq_out: float | None, stacklevel: int = 2) -> None:
    """Refuse an input rate or a resampling that cannot be right, before any allocation;
    warn about a large upsampling (:func:`warn_upsampling`).

    Raises:
        PreprocessError (naming ``source``): ``sfreq_in`` outside
            :data:`eegssm.io.edf_header.SFREQ_RANGE`, or resampling to ``sfreq_out`` by a factor
            above :data:`MAX_RESAMPLE_RATIO` or too small to approximate.
    """
    from eegssm.io.edf_header import SFREQ_RANGE

    low, high = SFREQ_RANGE
    if not low <= sfreq_in <= high:  # also NaN
        raise PreprocessError(
            f"{source}: sampling rate {sfreq_in:.3g} Hz is outside the plausible "
            f"{low:g}-{high:g} Hz"
        )
    if sfreq_out is None or sfreq_out == sfreq_in:
        return
    factor = filters.resample_factors(sfreq_in, sfreq_out)
    if factor == 0 or factor > MAX_RESAMPLE_RATIO:
        raise PreprocessError(
            f"{source}: cannot resample {sfreq_in:.6g} Hz to {sfreq_out:g} Hz (a factor of "
            f"{sfreq_out / sfreq_in:.3g}; at most {MAX_RESAMPLE_RATIO:g} up, and down to a "
            "ratio with a denominator of at most 10000)"
        )
    warn_upsampling(source, sfreq_in, sfreq_out, stacklevel=stacklevel + 1)


def fit_normalization(
    data: np.ndarray, config: PreprocessConfig, flat: np.ndarray | None = None
) -> filters.Normalization | None:
    """The normalisation ``config.normalize`` asks for, fitted on a whole filtered recording
    ``data (C, T)``; channels where ``flat`` is True are zeroed (a flat channel is filter
    round-off and resampling edges by now: normalising would blow that up to unit scale).
    None when ``config.normalize`` is None."""
    if config.normalize == "zscore":
        norm = filters.zscore_normalization(data, config.clip)
    elif config.normalize == "p95":
        norm = filters.percentile_normalization(data, 95.0, config.clip)
    elif config.normalize == "fixed":
        norm = filters.fixed_normalization(len(data), config.scale_uv, config.clip)
    else:
        return None
    return norm.with_zeroed(flat) if flat is not None and flat.any() else norm


def warn_upsampling(source: str, sfreq_in: float, sfreq_out: float, stacklevel: int = 2) -> None:
    """Warn when ``sfreq_out`` is more than :data:`MAX_UPSAMPLING` times ``sfreq_in``."""
    if sfreq_out > MAX_UPSAMPLING * sfreq_in:
        warnings.warn(
            f"{source}: upsampling {sfreq_in:g} Hz to {sfreq_out:g} Hz; the recording holds no "
            f"signal above {sfreq_in / 2:g} Hz",
            UserWarning,
            stacklevel=stacklevel,
        )


def _check_finite(
    data: np.ndarray, names: list[str], source: str, raw: Recording | None, when: str
) -> None:
    """Raise :class:`NonFiniteSignalError` naming the channels (and input channels) at fault."""
    finite = np.isfinite(data)
    if finite.all():
        return
    bad = [n for n, ok in zip(names, finite.all(axis=-1)) if not ok]
    detail = ""
    if raw is not None:
        raw_bad = [n for n, row in zip(raw.ch_names, raw.data) if not np.isfinite(row).all()]
        detail = f" from input channel(s) {', '.join(raw_bad)}" if raw_bad else ""
    raise NonFiniteSignalError(
        f"{source}: {int((~finite).sum())} non-finite samples (NaN/inf) in channel(s) "
        f"{', '.join(bad)}{detail}{when}; fix or drop the channel (or crop the segment) before "
        "preprocessing"
    )


def flat_rows(data: np.ndarray, tolerance: float = 1e-6) -> np.ndarray:
    """``(C,)`` bool: channels whose peak-to-peak is at most ``tolerance`` of their magnitude
    (constant, e.g. a disconnected electrode or a zero-filled gap as long as the recording)."""
    if data.shape[-1] == 0:
        return np.zeros(data.shape[0], dtype=bool)
    high, low = data.max(axis=-1), data.min(axis=-1)
    return high - low <= tolerance * np.maximum(np.abs(high), np.abs(low))


def check_length(n_samples: int, sos: np.ndarray, sfreq: float, source: str) -> None:
    """Refuse a recording shorter than the zero-phase filter's edge padding."""
    if len(sos) == 0:
        return
    padlen = iir.padlen(sos)  # scipy.signal.sosfiltfilt's default
    if n_samples <= padlen:
        raise PreprocessError(
            f"{source}: too short to filter: {n_samples} samples at {sfreq:g} Hz "
            f"({n_samples / sfreq:.3g} s); the band-pass/notch cascade needs more than "
            f"{padlen} samples"
        )


class _Clock:
    """Calls a function and adds its wall time to ``timings[name]`` (no-op without a dict)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings

    def __call__(self, name: str, fn: Callable, *args: object):
        t0 = time.perf_counter()
        out = fn(*args)
        if self.timings is not None:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - t0
        return out


def preprocess_windows(
    recording: Recording,
    config: PreprocessConfig | str = "seizure",
    timings: dict[str, float] | None = None,
    **window_kwargs: object,
) -> Windows:
    """:func:`preprocess` then :func:`make_windows` with ``config.window_s`` / ``stride_s``.

    ``window_kwargs`` go to :func:`make_windows` (``is_seizure``, ``labels``, ``copy``). Adds a
    ``window`` entry to ``timings``.
    """
    cfg = get_preset(config) if isinstance(config, str) else config
    rec = preprocess(recording, cfg, timings)
    clock = _Clock(timings)
    return clock("window", lambda: make_windows(rec, cfg.window_s, cfg.stride_s, **window_kwargs))
