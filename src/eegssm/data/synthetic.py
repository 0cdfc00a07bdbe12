"""Synthetic EEG with ground-truth seizures, and synthetic seizures on real backgrounds.

A recording (:func:`make_recording`) on the 19-channel 10-20 set (µV, float32) is the sum of:

- **background**: pink (1/f power) noise, spatially smoothed between neighbouring electrodes
  (Gaussian kernel over 10-20 positions), ~10 µV RMS per channel, plus a 1 µV white floor;
- **posterior alpha**: a 9–11 Hz rhythm with a slowly waxing and waning envelope, strongest on
  O1/O2, then P3/P4/T5/T6/Pz, weak frontally;
- **eye blinks**: slow (~0.3 s) positive deflections of 80–200 µV on Fp1/Fp2, weaker on F-row
  electrodes, about every 5 s;
- **muscle bursts**: 0.5–3 s of broadband (> 20 Hz) noise on temporal electrodes (F7/F8, T3–T6);
- **seizures** (:func:`seizure_field`): an evolving rhythmic discharge with spike-and-wave
  morphology; its frequency rises from ~3 Hz to 6–8 Hz over the first fifth to third of the
  seizure and then slows to ~2 Hz, its amplitude builds up to 100–300 µV; it starts on a focal
  electrode and its two nearest neighbours and spreads by distance to the rest of the head (or
  stays regional, in 30 % of seizures). Ground truth is one :class:`~eegssm.io.types.Event`
  (``label="seiz"``, channel ``TERM``) per seizure, from the first involved sample to the end.

:func:`add_seizures` superimposes the same seizures on a real recording (a better training set than
fully synthetic data: the background is real EEG). Everything is deterministic given ``seed``; the
background of :func:`make_recording` does not depend on the number of seizures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import signal

from eegssm.io.types import TERM, Event, Recording
from eegssm.preprocessing.channels import normalize_name, standard_positions
from eegssm.preprocessing.montages import REFERENTIAL_19

_FRONTAL_BLINK = {"Fp1": 1.0, "Fp2": 1.0, "F3": 0.3, "F4": 0.3, "Fz": 0.3, "F7": 0.35, "F8": 0.35}
_TEMPORAL = ("F7", "T3", "T5", "F8", "T4", "T6")


def _positions(names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(C, 3)`` positions (m) for normalised names, and a ``(C,)`` bool 'has a position'."""
    table = standard_positions()
    pos = np.zeros((len(names), 3))
    known = np.zeros(len(names), dtype=bool)
    for i, name in enumerate(names):
        if name in table:
            pos[i] = table[name]
            known[i] = True
    return pos, known


def pink_noise(rng: np.random.Generator, n_channels: int, n_times: int, sfreq: float) -> np.ndarray:
    """``(C, T)`` float64 noise with 1/f power above 0.5 Hz (flat below), unit RMS per channel."""
    white = rng.standard_normal((n_channels, n_times))
    spec = np.fft.rfft(white, axis=-1)
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    spec *= 1.0 / np.sqrt(np.maximum(freqs, 0.5))
    spec[:, 0] = 0.0
    out = np.fft.irfft(spec, n=n_times, axis=-1)
    out /= out.std(axis=-1, keepdims=True) + 1e-12
    return out


def _smooth_envelope(
    rng: np.random.Generator, n_times: int, sfreq: float, timescale_s: float
) -> np.ndarray:
    """``(T,)`` positive envelope in ~[0.3, 1.7] varying over ``timescale_s`` seconds."""
    n_knots = max(2, int(n_times / sfreq / timescale_s) + 2)
    knots = 1.0 + 0.5 * np.tanh(rng.standard_normal(n_knots))
    return np.interp(np.linspace(0, n_knots - 1, n_times), np.arange(n_knots), knots)


def _background(
    rng: np.random.Generator, names: Sequence[str], n_times: int, sfreq: float, rms_uv: float
) -> np.ndarray:
    pos, known = _positions(names)
    noise = pink_noise(rng, len(names), n_times, sfreq)
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    mix = np.exp(-(d**2) / (2 * 0.04**2)) * (known[:, None] & known[None]) + np.eye(len(names))
    mix /= np.sqrt((mix**2).sum(axis=1, keepdims=True))  # unit RMS rows for independent inputs
    gains = rms_uv * rng.uniform(0.8, 1.3, size=(len(names), 1))
    out = gains * (mix @ noise)
    out += rng.standard_normal(out.shape)  # 1 µV amplifier floor
    return out


def _alpha(
    rng: np.random.Generator, names: Sequence[str], n_times: int, sfreq: float, amp_uv: float
) -> np.ndarray:
    pos, known = _positions(names)
    weight = np.where(known, 0.1 + 0.9 / (1 + np.exp((pos[:, 1] + 0.04) / 0.012)), 0.0)
    f0 = rng.uniform(9.0, 11.0)
    drift = 0.8 * (_smooth_envelope(rng, n_times, sfreq, 2.0) - 1.0)  # about ±0.4 Hz
    phase = 2 * np.pi * np.cumsum(f0 + drift) / sfreq
    env = _smooth_envelope(rng, n_times, sfreq, 1.5)
    return amp_uv * weight[:, None] * (env * np.sin(phase))[None]


def _blinks(
    rng: np.random.Generator, names: Sequence[str], n_times: int, sfreq: float
) -> np.ndarray:
    weight = np.array([_FRONTAL_BLINK.get(n, 0.0) for n in names])
    if not weight.any():
        return np.zeros((len(names), n_times))
    n = rng.poisson(n_times / sfreq / 5.0)
    impulses = np.zeros(n_times)
    where = rng.integers(0, n_times, size=n)
    np.add.at(impulses, where, rng.uniform(80.0, 200.0, size=n))
    t = np.arange(int(0.8 * sfreq)) / sfreq
    kernel = (t / 0.12) ** 2 * np.exp(2 - 2 * t / 0.12)  # peak 1 at 0.12 s, ~0.3 s wide
    trace = signal.oaconvolve(impulses, kernel)[:n_times]
    return weight[:, None] * trace[None]


def _muscle(
    rng: np.random.Generator, names: Sequence[str], n_times: int, sfreq: float
) -> np.ndarray:
    out = np.zeros((len(names), n_times))
    chans = [i for i, n in enumerate(names) if n in _TEMPORAL]
    nyq = sfreq / 2
    if not chans or nyq <= 25.0:
        return out
    sos = signal.butter(4, 20.0, btype="highpass", fs=sfreq, output="sos")
    for _ in range(rng.poisson(n_times / sfreq / 30.0)):
        length = int(rng.uniform(0.5, 3.0) * sfreq)
        start = int(rng.integers(0, max(1, n_times - length)))
        length = min(length, n_times - start)
        side = [c for c in chans if rng.random() < 0.6] or chans[:1]
        burst = signal.sosfilt(sos, rng.standard_normal((len(side), length)), axis=-1)
        burst *= signal.windows.tukey(length, 0.3)[None] * rng.uniform(10.0, 40.0)
        out[side, start : start + length] += burst
    return out


def seizure_waveform(
    rng: np.random.Generator, n_times: int, sfreq: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time course of one seizure, before spatial weighting.

    Returns:
        ``phase (T,)`` (radians), ``freq (T,)`` (Hz) and ``envelope (T,)`` (0..1), for a seizure of
        ``n_times`` samples: frequency ~3 Hz → 6–8 Hz (peak at 15–30 % of the seizure) → ~2 Hz,
        amplitude building up over the first ~40 % and fading in the last ~15 %.
    """
    u = np.linspace(0.0, 1.0, n_times)
    u_peak = rng.uniform(0.15, 0.3)
    f_knots = [rng.uniform(2.5, 3.5), rng.uniform(6.0, 8.0), rng.uniform(1.5, 2.5)]
    freq = np.interp(u, [0.0, u_peak, 1.0], f_knots)
    freq *= 1.0 + 0.05 * (_smooth_envelope(rng, n_times, sfreq, 2.0) - 1.0)  # a little jitter
    phase = 2 * np.pi * np.cumsum(freq) / sfreq + rng.uniform(0, 2 * np.pi)
    env = np.interp(u, [0.0, 0.4, 0.85, 1.0], [0.15, 1.0, 1.0, 0.5])
    taper = min(n_times // 2, int(0.5 * sfreq))
    if taper > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, taper))
        env[:taper] *= ramp
        env[-taper:] *= ramp[::-1]
    return phase, freq, env


def spike_wave(phase: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Spike-and-wave cycle at each phase: a sharp negative spike (~15 ms σ) then a broad positive
    slow wave (0.18 cycle σ), zero mean over a cycle, peak-to-peak ≈ 1 (unitless).
    """
    theta = np.mod(phase / (2 * np.pi), 1.0)
    sigma_spike = np.minimum(0.015 * freq, 0.2)  # 15 ms in cycles, capped
    d_spike = np.mod(theta - 0.1 + 0.5, 1.0) - 0.5
    d_wave = np.mod(theta - 0.5 + 0.5, 1.0) - 0.5
    spike = -np.exp(-0.5 * (d_spike / sigma_spike) ** 2)
    wave = 0.6 * np.exp(-0.5 * (d_wave / 0.18) ** 2)
    mean = -sigma_spike * np.sqrt(2 * np.pi) + 0.6 * 0.18 * np.sqrt(2 * np.pi)
    return (spike + wave - mean) / 1.6


def seizure_field(
    rng: np.random.Generator,
    names: Sequence[str],
    n_times: int,
    sfreq: float,
    amplitude_uv: float,
    p_generalise: float = 0.7,
) -> tuple[np.ndarray, list[str]]:
    """Spatio-temporal seizure: ``(C, n_times)`` µV (float64) and the focal electrodes' names.

    A focal electrode is drawn among the channels with 10-20 positions; it and its two nearest
    neighbours start at sample 0. Every other electrode joins after a delay proportional to its
    distance, the spread being complete by 30–60 % of the seizure; its amplitude falls with
    distance (to 40 % far away). A regional seizure (probability ``1 - p_generalise``) involves
    only electrodes within 7 cm of the focus. Channels without a position stay at zero.

    Returns:
        ``(field, focus_names)``; the seizure starts at sample 0 on the focal electrodes.
    """
    pos, known = _positions(names)
    idx = np.flatnonzero(known)
    field = np.zeros((len(names), n_times))
    if idx.size == 0:
        return field, []
    focus = int(rng.choice(idx))
    dist = np.linalg.norm(pos - pos[focus], axis=-1)
    order = idx[np.argsort(dist[idx])]
    focal = order[:3]
    d_focal = dist[focal].max()
    generalise = rng.random() < p_generalise
    involved = idx if generalise else idx[dist[idx] <= max(0.07, d_focal)]
    d_max = max(dist[involved].max(), d_focal + 1e-6)
    spread_end = rng.uniform(0.3, 0.6) * n_times
    phase, freq, env = seizure_waveform(rng, n_times, sfreq)
    ramp_len = max(1, int(2.0 * sfreq))
    for c in involved:
        rel = max(0.0, (dist[c] - d_focal) / (d_max - d_focal))
        start = 0 if c in focal else int(rel * spread_end)
        if start >= n_times:
            continue
        gain = 1.0 if c in focal else 1.0 - 0.6 * rel
        lag = 2 * np.pi * freq * (dist[c] / 2.0)  # ~2 m/s propagation: a few ms of lag
        wave = spike_wave(phase - lag, freq) * env * gain
        gate = np.clip((np.arange(n_times) - start) / ramp_len, 0.0, 1.0)
        field[c] = wave * gate
    field *= amplitude_uv
    return field, [names[i] for i in focal]


def _place(
    rng: np.random.Generator,
    durations: Sequence[float],
    total_s: float,
    occupied: list[tuple[float, float]],
    min_gap_s: float,
    edge_s: float = 1.0,
) -> list[float]:
    """Random onsets (s) so seizures fit in ``[edge, total - edge]`` apart from ``occupied``."""
    onsets = []
    busy = list(occupied)
    for dur in durations:
        latest = total_s - edge_s - dur
        if latest < edge_s:
            raise ValueError(f"a {dur:.1f} s seizure does not fit in {total_s:.1f} s")
        for _ in range(1000):
            t0 = rng.uniform(edge_s, latest)
            if all(t0 + dur + min_gap_s <= a or t0 >= b + min_gap_s for a, b in busy):
                break
        else:
            raise ValueError(
                f"cannot place {len(durations)} seizures of {list(durations)} s in {total_s:.1f} s "
                f"with {min_gap_s} s gaps; use a longer recording or fewer/shorter seizures"
            )
        onsets.append(t0)
        busy.append((t0, t0 + dur))
    return onsets


def _superimpose(
    rng: np.random.Generator,
    data: np.ndarray,
    names: Sequence[str],
    sfreq: float,
    n_seizures: int,
    duration_range_s: tuple[float, float],
    amplitude_range_uv: tuple[float, float],
    occupied: list[tuple[float, float]],
    min_gap_s: float,
    label: str,
) -> list[Event]:
    """Add seizures to ``data`` (C, T) in place; return their events (seconds)."""
    total_s = data.shape[1] / sfreq
    durations = [float(rng.uniform(*duration_range_s)) for _ in range(n_seizures)]
    onsets = _place(rng, durations, total_s, occupied, min_gap_s)
    events = []
    for t0, dur in sorted(zip(onsets, durations)):
        a = int(round(t0 * sfreq))
        n = min(int(round(dur * sfreq)), data.shape[1] - a)
        field, _ = seizure_field(rng, names, n, sfreq, rng.uniform(*amplitude_range_uv))
        data[:, a : a + n] += field.astype(data.dtype)
        events.append(Event(a / sfreq, (a + n) / sfreq, label=label, channel=TERM))
    return events


def make_recording(
    duration_s: float,
    sfreq: float = 256.0,
    n_seizures: int = 1,
    seed: int = 0,
    seizure_duration_s: tuple[float, float] = (10.0, 120.0),
    seizure_amplitude_uv: tuple[float, float] = (100.0, 300.0),
    background_rms_uv: float = 10.0,
    alpha_uv: float = 15.0,
    artifacts: bool = True,
    min_gap_s: float = 30.0,
    label: str = "seiz",
    ch_names: Sequence[str] = REFERENTIAL_19,
) -> Recording:
    """A synthetic recording with ground-truth seizure events.

    Args:
        duration_s: length in seconds.
        sfreq: sampling rate (Hz).
        n_seizures: how many seizures (non-overlapping, ``min_gap_s`` apart).
        seed: random seed; equal seeds give identical arrays and events.
        seizure_duration_s: range of seizure lengths (s), drawn uniformly.
        seizure_amplitude_uv: range of peak seizure amplitudes (µV) at the focus.
        background_rms_uv: RMS of the pink background per channel (µV, ±30 % per channel).
        alpha_uv: amplitude of the posterior alpha rhythm at O1/O2 (µV).
        artifacts: add eye blinks and muscle bursts.
        min_gap_s: least time between two seizures (s).
        label: event label of the seizures.
        ch_names: channel names (10-20 electrodes; default the 19-channel set).

    Returns:
        :class:`Recording` ``(C, round(duration_s * sfreq))`` float32 µV with ``events`` sorted
        by onset and ``meta`` {``source``: ``"synthetic"``, ``seed``, ``duration``, ``subject``}.
    """
    n_times = int(round(duration_s * sfreq))
    names = [normalize_name(n) for n in ch_names]
    seeds = np.random.SeedSequence(seed).spawn(5)
    rng_bg, rng_alpha, rng_blink, rng_muscle, rng_seiz = (np.random.default_rng(s) for s in seeds)
    data = _background(rng_bg, names, n_times, sfreq, background_rms_uv)
    data += _alpha(rng_alpha, names, n_times, sfreq, alpha_uv)
    if artifacts:
        data += _blinks(rng_blink, names, n_times, sfreq)
        data += _muscle(rng_muscle, names, n_times, sfreq)
    events = _superimpose(
        rng_seiz,
        data,
        names,
        sfreq,
        n_seizures,
        seizure_duration_s,
        seizure_amplitude_uv,
        [],
        min_gap_s,
        label,
    )
    meta = {
        "source": "synthetic",
        "seed": seed,
        "duration": n_times / sfreq,
        "subject": f"synthetic-{seed}",
        "start_time": None,
    }
    return Recording(data.astype(np.float32), float(sfreq), list(ch_names), events, meta)


def add_seizures(
    recording: Recording,
    n_seizures: int = 1,
    seed: int = 0,
    seizure_duration_s: tuple[float, float] = (10.0, 120.0),
    seizure_amplitude_uv: tuple[float, float] = (100.0, 300.0),
    min_gap_s: float = 30.0,
    label: str = "seiz",
) -> Recording:
    """A copy of a (real) recording with synthetic seizures added and their events appended.

    Channel names are matched to 10-20 positions after normalisation (``EEG Fp1``, ``Fc5.``,
    ``T7`` all work); channels without a position (ECG, ...) get nothing. Seizures avoid the
    recording's existing events with seizure-like labels by ``min_gap_s``.

    Args:
        recording: ``(C, T)`` µV background.
        n_seizures, seed, seizure_duration_s, seizure_amplitude_uv, min_gap_s, label: as in
            :func:`make_recording`.

    Returns:
        A new :class:`Recording` (data copied, float32); ``meta["synthetic_seizures"]`` lists the
        added events as ``(start, stop)`` seconds.
    """
    from eegssm.io.annotations.labels import is_seizure

    names = [normalize_name(n) for n in recording.ch_names]
    data = np.array(recording.data, dtype=np.float32, copy=True)
    occupied = [(e.start, e.stop) for e in recording.events if is_seizure(e.label)]
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    new = _superimpose(
        rng,
        data,
        names,
        recording.sfreq,
        n_seizures,
        seizure_duration_s,
        seizure_amplitude_uv,
        occupied,
        min_gap_s,
        label,
    )
    events = sorted([*recording.events, *new], key=lambda e: (e.start, e.stop))
    meta = dict(recording.meta, synthetic_seizures=[(e.start, e.stop) for e in new])
    return recording.copy_with(data=data, events=events, meta=meta)


def write_synthetic(
    path_stem: str | Path,
    duration_s: float = 600.0,
    sfreq: float = 256.0,
    n_seizures: int = 1,
    seed: int = 0,
    tusz_labels: bool = False,
    **kwargs: object,
) -> tuple[Path, Path]:
    """Write a synthetic recording as EDF (``<stem>.edf``) plus TUSZ csv_bi (``<stem>.csv_bi``).

    Args:
        path_stem: output path without extension (folders are created).
        duration_s, sfreq, n_seizures, seed, **kwargs: passed to :func:`make_recording`.
        tusz_labels: label channels as TUSZ does (``EEG FP1-REF``) instead of ``Fp1``.

    Returns:
        ``(edf_path, csv_bi_path)``. The EDF stores µV with 16-bit resolution over each file's
        physical range (mne's ``export_raw`` via edfio).
    """
    import mne

    from eegssm.io.annotations.csv_bi import write_csv_bi

    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    rec = make_recording(duration_s, sfreq=sfreq, n_seizures=n_seizures, seed=seed, **kwargs)
    labels = [f"EEG {n.upper()}-REF" for n in rec.ch_names] if tusz_labels else rec.ch_names
    info = mne.create_info(labels, rec.sfreq, ch_types="eeg")
    raw = mne.io.RawArray(rec.data.astype(np.float64) * 1e-6, info, verbose="error")
    edf_path = stem.with_name(stem.name + ".edf")
    mne.export.export_raw(edf_path, raw, fmt="edf", overwrite=True, verbose="error")
    csv_path = write_csv_bi(stem.with_name(stem.name + ".csv_bi"), rec.events, rec.duration)
    return edf_path, csv_path


#: Physical range of :func:`write_synthetic_long` (µV): 16 bits give a 0.1 µV step.
LONG_EDF_RANGE_UV = 3276.8


def write_synthetic_long(
    path_stem: str | Path,
    hours: float,
    sfreq: float = 256.0,
    seizures_per_hour: int = 1,
    seed: int = 0,
    progress: bool = False,
    piece_s: int = 3600,
) -> tuple[Path, Path]:
    """Write a long synthetic recording (e.g. 24 h) as EDF + csv_bi, one piece at a time.

    Each piece (an hour by default) is an independent :func:`make_recording` (seed
    ``seed + piece index``) with ``seizures_per_hour`` seizures, so memory stays at one piece of
    samples whatever ``hours``.
    The EDF has 1-s data records and a fixed physical range of ±:data:`LONG_EDF_RANGE_UV` µV
    (0.1 µV resolution; larger values are clipped) on every channel, so the hours can be written
    one after another.

    Returns:
        ``(edf_path, csv_bi_path)``.
    """
    from tqdm.auto import tqdm

    from eegssm import atomic
    from eegssm.io.annotations.csv_bi import write_csv_bi

    spr = int(round(sfreq))
    if not np.isclose(spr, sfreq) or spr < 1:
        raise ValueError(f"sfreq must be a whole number of Hz for 1-s records, got {sfreq}")
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    edf_path = stem.with_name(stem.name + ".edf")
    n_seconds = int(round(hours * 3600))
    names = list(REFERENTIAL_19)
    events: list[Event] = []
    gain = 32767.0 / LONG_EDF_RANGE_UV

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(_edf_header(names, spr, n_seconds, LONG_EDF_RANGE_UV))
            pieces = range(0, n_seconds, int(piece_s))
            for index, start in enumerate(tqdm(pieces, desc="writing EDF", disable=not progress)):
                length = min(int(piece_s), n_seconds - start)
                rec = make_recording(
                    float(length), sfreq=sfreq, n_seizures=seizures_per_hour, seed=seed + index
                )
                events.extend(Event(e.start + start, e.stop + start, e.label) for e in rec.events)
                digital = np.clip(np.round(rec.data * gain), -32768, 32767).astype("<i2")
                # (C, seconds * spr) -> records (seconds, C, spr)
                f.write(digital.reshape(len(names), length, spr).transpose(1, 0, 2).tobytes())

    atomic.write_atomic(edf_path, write)
    csv_path = write_csv_bi(stem.with_name(stem.name + ".csv_bi"), events, float(n_seconds))
    return edf_path, csv_path


def write_edf(
    path: str | Path,
    data: np.ndarray,
    sfreq: float,
    labels: Sequence[str],
    phys_uv: float | None = None,
) -> Path:
    """Write ``data (C, T)`` µV as a plain EDF with 1-s records (labels may repeat, as in
    CHB-MIT files); the last record is zero-padded to whole seconds.

    Args:
        sfreq: a whole number of Hz.
        phys_uv: physical range ±``phys_uv`` µV for every channel (default: the largest
            absolute value, at least 1 µV); values beyond it are clipped.

    Returns:
        The path written (through a temporary file and a rename).
    """
    from eegssm import atomic

    spr = int(round(sfreq))
    if not np.isclose(spr, sfreq) or spr < 1:
        raise ValueError(f"sfreq must be a whole number of Hz for 1-s records, got {sfreq}")
    data = np.asarray(data, dtype=np.float64)
    n_records = max(1, -(-data.shape[1] // spr))
    padded = np.zeros((data.shape[0], n_records * spr))
    padded[:, : data.shape[1]] = data
    if phys_uv is None:
        phys_uv = float(max(1.0, np.ceil(np.abs(data).max(initial=0.0))))
    gain = 32767.0 / phys_uv
    digital = np.clip(np.round(padded * gain), -32768, 32767).astype("<i2")
    records = digital.reshape(len(labels), n_records, spr).transpose(1, 0, 2).tobytes()
    header = _edf_header(list(labels), spr, n_records, phys_uv)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(header + records)

    return atomic.write_atomic(Path(path), write)


def _edf_header(labels: list[str], spr: int, n_records: int, phys_uv: float) -> bytes:
    """EDF header (1-s records, ``spr`` samples per record, ±``phys_uv`` µV ↔ ±32767)."""

    def field(value: object, width: int) -> bytes:
        text = str(value)
        if len(text) > width:
            raise ValueError(f"EDF header field {text!r} longer than {width} characters")
        return text.ljust(width).encode("ascii")

    ns = len(labels)
    main = b"".join(
        [
            field(0, 8),
            field("X X X X", 80),
            field("Startdate X X X X", 80),
            field("01.01.00", 8),
            field("00.00.00", 8),
            field(256 * (ns + 1), 8),
            field("", 44),
            field(n_records, 8),
            field(1, 8),
            field(ns, 4),
        ]
    )
    columns = [
        (labels, 16),
        (["AgAgCl electrode"] * ns, 80),
        (["uV"] * ns, 8),
        ([f"{-phys_uv:g}"] * ns, 8),
        ([f"{phys_uv:g}"] * ns, 8),
        (["-32767"] * ns, 8),
        (["32767"] * ns, 8),
        ([""] * ns, 80),
        ([spr] * ns, 8),
        ([""] * ns, 32),
    ]
    return main + b"".join(field(v, w) for values, w in columns for v in values)
