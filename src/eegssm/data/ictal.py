"""Synthetic seizures for any montage, made to look like scalp seizures, and artefacts.

Used to train the seizure detector on real seizure-free EEG (seizures are superimposed on it) and
to teach it what is *not* a seizure (muscle bursts, short rhythmic runs). Everything works on a
montaged µV array ``(C, T)`` whose channels are electrodes (``"Fp1"``) or bipolar derivations
(``"FP1-F7"``): the seizure is generated as a potential on the 10-20 electrodes, then each channel
is ``field[anode] - field[cathode]`` as the montage would compute it, so bipolar cancellation and
phase reversals around the focus come out as they do on a real head.

A seizure (:func:`seizure_field`) is

- a **source waveform** (:func:`source_waveform`), one of :data:`KINDS`:

  - ``"rhythmic"``: a sharply contoured rhythm (fundamental plus 2nd–4th harmonics) starting at
    3–9 Hz and slowing to 1.5–4 Hz, the usual evolution of a focal scalp seizure;
  - ``"spike_wave"``: 2.5–4 Hz spike-and-wave (:func:`eegssm.data.synthetic.spike_wave`);
  - ``"lvfa"``: low-voltage fast activity (14–30 Hz) for the first 1.5–5 s, then a rhythm;
  - ``"polyspike"``: repetitive sharp transients whose rate rises from 1–2 Hz to 3–5 Hz;
  - ``"bonn"``: a real intracranial ictal recording (Bonn set S, Andrzejak et al. 2001) low-passed
    at 20–35 Hz (the skull) and resampled, when ``bonn`` segments are given;

  with an envelope that builds up over the first 15–40 % and fades at the end, and 10–35 %
  cycle-to-cycle amplitude changes (noise low-passed at 2 Hz);
- a **spatial field**: Gaussian in the distance (m) from a focal electrode, its width growing from
  3–6 cm at onset to 6–12 cm (regional) or 30 cm (generalised) by 20–70 % of the seizure; a lag of
  up to ~40 ms across the head; a little independent waveform per electrode;
- scaled to a **signal-to-background ratio**: the RMS of the seizure on its strongest channel
  over that channel's background RMS, drawn log-uniformly (default 0.8–6; chb01's ictal clips
  have 1.2–2.8 times the RMS of the 10 s before them, averaged over channels);
- optionally with **ictal muscle activity** (20–45 Hz noise on frontal/temporal channels) and a
  **background attenuation** on the involved channels.

Artefacts and backgrounds for negatives: :func:`muscle_burst`, :func:`rhythmic_burst` (a 1–2.5 s
run of rhythm, shorter than any seizure label) and :func:`background_rhythm` (a steady 4–12 Hz
rhythm through the whole recording, as some people's resting EEG has: present from start to end,
it does not evolve, so it is not a seizure).

Randomness comes only from the ``rng`` passed in; shapes are ``(C, n)`` float32 µV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal

from eegssm.data.synthetic import spike_wave
from eegssm.preprocessing.channels import normalize_name, standard_positions

#: Source waveforms of :func:`source_waveform`.
KINDS: tuple[str, ...] = ("rhythmic", "spike_wave", "lvfa", "polyspike", "bonn")
#: Electrodes on which fields are generated (the 10-20 set with old temporal names).
ELECTRODES: tuple[str, ...] = (
    "Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T3", "C3", "Cz", "C4", "T4",
    "T5", "P3", "Pz", "P4", "T6", "O1", "O2",
)  # fmt: skip
_FRONTOTEMPORAL = frozenset({"Fp1", "Fp2", "F7", "F8", "T3", "T4", "T5", "T6"})


@dataclass(frozen=True)
class ChannelPairs:
    """Channels as electrode pairs: channel ``k`` = ``field[anode[k]] - field[cathode[k]]``.

    ``cathode[k] = -1`` for a referential channel. Indices point into :data:`ELECTRODES`;
    ``known[k]`` is False for a channel that is neither (it gets no field).
    """

    anode: np.ndarray
    cathode: np.ndarray
    known: np.ndarray

    @classmethod
    def from_names(cls, names: Sequence[str]) -> ChannelPairs:
        """From channel labels (``"FP1-F7"``, ``"T8-P8-1"``, ``"EEG Fp1"``, ...)."""
        where = {e: i for i, e in enumerate(ELECTRODES)}
        anode = np.full(len(names), -1)
        cathode = np.full(len(names), -1)
        for k, raw in enumerate(names):
            parts = normalize_name(raw).split("-")
            if len(parts) == 1 and parts[0] in where:
                anode[k] = where[parts[0]]
            elif len(parts) == 2 and parts[0] in where and parts[1] in where:
                anode[k], cathode[k] = where[parts[0]], where[parts[1]]
        return cls(anode, cathode, anode >= 0)

    def apply(self, field: np.ndarray) -> np.ndarray:
        """``(E, n)`` electrode potentials → ``(C, n)`` channels."""
        out = np.zeros((len(self.anode), field.shape[1]), dtype=np.float64)
        k = self.known
        out[k] = field[self.anode[k]]
        ref = k & (self.cathode >= 0)
        out[ref] -= field[self.cathode[ref]]
        return out

    def involves(self, electrodes: np.ndarray) -> np.ndarray:
        """``(C,)`` bool: channels touching any electrode flagged in ``electrodes (E,)``."""
        hit = np.zeros(len(self.anode), dtype=bool)
        k = self.known
        hit[k] = electrodes[self.anode[k]]
        ref = k & (self.cathode >= 0)
        hit[ref] |= electrodes[self.cathode[ref]]
        return hit


def _positions() -> np.ndarray:
    table = standard_positions()
    return np.array([table[e] for e in ELECTRODES])


def _envelope(rng: np.random.Generator, n: int, sfreq: float) -> np.ndarray:
    """Build-up over the first 15–40 %, plateau, fade over the last 5–20 %, 0.3 s tapers."""
    u = np.linspace(0.0, 1.0, n)
    rise, fall = rng.uniform(0.15, 0.4), rng.uniform(0.05, 0.2)
    start = rng.uniform(0.2, 0.6)
    env = np.interp(u, [0.0, rise, 1.0 - fall, 1.0], [start, 1.0, 1.0, rng.uniform(0.3, 0.8)])
    taper = min(n // 2, int(0.3 * sfreq))
    if taper > 0:
        env[:taper] *= np.linspace(0.0, 1.0, taper)
    return env


def _jitter(rng: np.random.Generator, n: int, sfreq: float, depth: float) -> np.ndarray:
    """A slow multiplicative wobble ``1 ± depth`` (knots every ~2 s)."""
    knots = max(2, int(n / sfreq / 2.0) + 2)
    return 1.0 + depth * np.interp(
        np.linspace(0, knots - 1, n), np.arange(knots), rng.uniform(-1, 1, knots)
    )


def _smooth_noise(rng: np.random.Generator, n: int, sfreq: float, cutoff: float) -> np.ndarray:
    """Unit-RMS Gaussian noise low-passed at ``cutoff`` Hz (cycle-to-cycle amplitude changes)."""
    sos = signal.butter(2, cutoff, btype="lowpass", fs=sfreq, output="sos")
    x = signal.sosfiltfilt(sos, rng.standard_normal(n + 2 * int(sfreq)))[int(sfreq) : -int(sfreq)]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _harmonic_rhythm(
    rng: np.random.Generator, freq: np.ndarray, sfreq: float, sharpness: float
) -> np.ndarray:
    """Fundamental plus harmonics 2–4 (random phases, amplitudes ``≤ sharpness / h``)."""
    phase = 2 * np.pi * np.cumsum(freq) / sfreq + rng.uniform(0, 2 * np.pi)
    out = np.sin(phase)
    for h in (2, 3, 4):
        out += rng.uniform(0, sharpness) / h * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    return out


def source_waveform(
    rng: np.random.Generator, kind: str, n: int, sfreq: float, bonn: np.ndarray | None = None
) -> np.ndarray:
    """One seizure's time course ``(n,)`` float64, unit RMS (see the module docstring).

    ``bonn``: Bonn set S segments already at ``sfreq`` (:func:`bonn_at`), for ``kind="bonn"``.
    """
    u = np.linspace(0.0, 1.0, n)
    if kind == "rhythmic":
        peak = rng.uniform(0.0, 0.3)
        f = np.interp(u, [0, peak, 1], [rng.uniform(3, 7), rng.uniform(4, 9), rng.uniform(1.5, 4)])
        x = _harmonic_rhythm(rng, f * _jitter(rng, n, sfreq, 0.06), sfreq, rng.uniform(0.2, 1.2))
    elif kind == "spike_wave":
        f = np.interp(u, [0, 1], [rng.uniform(2.8, 4.0), rng.uniform(2.0, 3.0)])
        f = f * _jitter(rng, n, sfreq, 0.05)
        phase = 2 * np.pi * np.cumsum(f) / sfreq + rng.uniform(0, 2 * np.pi)
        x = spike_wave(phase, f)
    elif kind == "lvfa":
        onset = min(n, int(rng.uniform(1.5, 5.0) * sfreq))
        fast_f = rng.uniform(14, 30) * _jitter(rng, n, sfreq, 0.08)
        fast = np.sin(2 * np.pi * np.cumsum(fast_f) / sfreq) * rng.uniform(0.25, 0.6)
        f = np.interp(u, [0, 1], [rng.uniform(5, 9), rng.uniform(2, 4)])
        slow = _harmonic_rhythm(rng, f, sfreq, rng.uniform(0.2, 1.0))
        mix = np.clip((np.arange(n) - onset) / max(1.0, 1.0 * sfreq), 0.0, 1.0)
        x = (1 - mix) * fast + mix * slow
    elif kind == "polyspike":
        rate = np.interp(u, [0, 1], [rng.uniform(1, 2), rng.uniform(3, 5)])
        phase = np.cumsum(rate) / sfreq + rng.uniform(0, 1)
        d = (np.mod(phase, 1.0) - 0.5) / rate  # seconds from the nearest transient
        width = rng.uniform(0.015, 0.035)
        spike = -(d / width) * np.exp(-0.5 * (d / width) ** 2)  # a sharp biphasic transient
        wave = 0.4 * np.exp(-0.5 * ((d - 0.12) / 0.06) ** 2)
        x = spike + wave
    elif kind == "bonn":
        if bonn is None or len(bonn) == 0:
            return source_waveform(rng, "rhythmic", n, sfreq)
        x = _bonn_piece(rng, bonn, n, sfreq)
    else:
        raise ValueError(f"unknown seizure kind {kind!r}; choose from {KINDS}")
    x = x - x.mean()
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def bonn_at(segments: np.ndarray, sfreq: float, bonn_sfreq: float = 173.61) -> np.ndarray:
    """Bonn segments ``(N, n)`` resampled to ``sfreq``: ``(N, n')`` float32, zero mean."""
    from eegssm.preprocessing.filters import resample

    x = np.asarray(segments, dtype=np.float32)
    x = x - x.mean(axis=1, keepdims=True)
    return resample(x, bonn_sfreq, sfreq)[0]


def _bonn_piece(rng: np.random.Generator, bonn: np.ndarray, n: int, sfreq: float) -> np.ndarray:
    """``n`` samples from random Bonn segments (at ``sfreq``), low-passed at 20–35 Hz and joined
    with 0.5 s cross-fades when one segment is too short."""
    pieces: list[np.ndarray] = []
    total, fade = 0, int(0.5 * sfreq)
    sos = signal.butter(4, rng.uniform(20, 35), btype="lowpass", fs=sfreq, output="sos")
    while total < n + fade:
        seg = signal.sosfiltfilt(sos, np.asarray(bonn[rng.integers(len(bonn))], np.float64))
        seg /= np.sqrt(np.mean(seg**2)) + 1e-12
        if rng.random() < 0.5:
            seg = -seg
        if pieces:
            ramp = np.linspace(0, 1, fade)
            pieces[-1][-fade:] = pieces[-1][-fade:] * (1 - ramp) + seg[:fade] * ramp
            seg = seg[fade:]
        pieces.append(seg)
        total += len(seg)
    x = np.concatenate(pieces)
    start = rng.integers(0, len(x) - n + 1)
    return x[start : start + n]


def seizure_field(
    rng: np.random.Generator,
    n: int,
    sfreq: float,
    kind: str | None = None,
    bonn: np.ndarray | None = None,
    p_generalise: float = 0.35,
) -> tuple[np.ndarray, np.ndarray, str]:
    """A seizure as potentials on :data:`ELECTRODES`: ``(E, n)`` float64 (arbitrary scale), the
    ``(E,)`` peak involvement of each electrode (0–1) and the kind of source waveform.

    ``kind`` None draws one of :data:`KINDS` (``"bonn"`` only when ``bonn`` is given).
    """
    kinds = [k for k in KINDS if k != "bonn" or bonn is not None]
    kind = kind or str(rng.choice(kinds))
    pos = _positions()
    focus = int(rng.integers(len(ELECTRODES)))
    dist = np.linalg.norm(pos - pos[focus], axis=-1)  # m
    width0 = rng.uniform(0.03, 0.06)
    width1 = 0.30 if rng.random() < p_generalise else rng.uniform(0.06, 0.12)
    spread = max(1, int(rng.uniform(0.2, 0.7) * n))
    width = np.interp(np.arange(n), [0, spread], [width0, width1])  # (n,)
    gain = np.exp(-0.5 * (dist[:, None] / width[None]) ** 2)  # (E, n)
    wobble = np.clip(_smooth_noise(rng, n, sfreq, 2.0), -2.5, 2.5) * rng.uniform(0.1, 0.35)
    base = source_waveform(rng, kind, n, sfreq, bonn) * _envelope(rng, n, sfreq) * (1 + wobble)
    lag = (dist / rng.uniform(3.0, 10.0) * sfreq).astype(int)  # 3–10 m/s: up to ~40 ms
    field = np.empty((len(ELECTRODES), n))
    for e in range(len(ELECTRODES)):
        own = np.roll(base, lag[e])
        own[: lag[e]] = 0.0
        field[e] = own
    noise = source_waveform(rng, kind, n, sfreq, bonn) * 0.15  # per-electrode variety
    field += noise[None] * rng.uniform(-1, 1, (len(ELECTRODES), 1))
    field *= gain
    if rng.random() < 0.5:
        field = -field
    return field, gain.max(axis=1), kind


def _band_noise(rng: np.random.Generator, n: int, sfreq: float, lo: float, hi: float) -> np.ndarray:
    hi = min(hi, 0.45 * sfreq)
    sos = signal.butter(4, [lo, hi], btype="bandpass", fs=sfreq, output="sos")
    x = signal.sosfiltfilt(sos, rng.standard_normal(n + 64))[32:-32]
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def channel_rms(data: np.ndarray) -> np.ndarray:
    """Robust background RMS per channel ``(C,)``: 1.4826 × median absolute deviation."""
    med = np.median(data, axis=-1, keepdims=True)
    return 1.4826 * np.median(np.abs(data - med), axis=-1) + 1e-6


def add_seizure(
    rng: np.random.Generator,
    data: np.ndarray,
    names: Sequence[str],
    sfreq: float,
    onset: int,
    n: int,
    sos: np.ndarray | None = None,
    bonn: np.ndarray | None = None,
    snr_range: tuple[float, float] = (0.8, 6.0),
    p_muscle: float = 0.35,
    p_attenuate: float = 0.5,
    kind: str | None = None,
) -> dict:
    """Superimpose one synthetic seizure on ``data[:, onset:onset + n]`` in place.

    Args:
        data: ``(C, T)`` float32 µV, already montaged (and filtered: pass the same ``sos``).
        names: the ``C`` channel labels (electrodes or derivations).
        sos: the preprocessing filter (zero-phase) applied to the added signal, so its spectrum
            matches what filtering the recording would have given.
        bonn, snr_range, p_muscle, p_attenuate, kind: see the module docstring.

    Returns:
        ``{"kind", "snr", "muscle", "channels"}``: what was added (``channels``: involved ones).
    """
    pairs = ChannelPairs.from_names(names)
    n = min(n, data.shape[1] - onset)
    seg = data[:, onset : onset + n]
    bg = channel_rms(seg if n >= sfreq else data)
    field, involvement, kind = seizure_field(rng, n, sfreq, kind, bonn)
    added = pairs.apply(field)
    if sos is not None and len(sos) and n > 3 * (2 * len(sos) + 1):
        added = signal.sosfiltfilt(sos, added, axis=-1)
    ratio = np.sqrt(np.mean(added**2, axis=-1)) / bg
    snr = float(np.exp(rng.uniform(*np.log(snr_range))))
    added *= snr / max(float(ratio.max()), 1e-12)
    involved = pairs.involves(involvement > 0.3) & pairs.known
    if rng.random() < p_attenuate:  # the seizure rhythm replaces part of the background
        depth = rng.uniform(0.2, 0.7)
        ramp = np.clip(np.arange(n) / max(1.0, 2.0 * sfreq), 0.0, 1.0)
        seg[involved] *= (1.0 - depth * ramp).astype(seg.dtype)
    muscle = bool(rng.random() < p_muscle)
    if muscle:
        added += muscle_signal(rng, names, n, sfreq, bg, rng.uniform(0.5, 2.5), ramp_s=n / sfreq)
    seg += added.astype(seg.dtype)
    return {"kind": kind, "snr": snr, "muscle": muscle, "channels": int(involved.sum())}


def muscle_signal(
    rng: np.random.Generator,
    names: Sequence[str],
    n: int,
    sfreq: float,
    bg: np.ndarray,
    level: float,
    ramp_s: float = 0.3,
) -> np.ndarray:
    """Muscle activity ``(C, n)``: 20–45 Hz noise, strongest on frontal/temporal channels, at
    ``level`` × each channel's background RMS ``bg (C,)`` there, ramping up over ``ramp_s``."""
    out = np.zeros((len(names), n))
    side = rng.choice([-1, 0, 1])  # left, both, right
    for k, raw in enumerate(names):
        parts = normalize_name(raw).split("-")
        if not _FRONTOTEMPORAL.intersection(parts):
            continue
        odd = any(p[-1:].isdigit() and int(p[-1]) % 2 == 1 for p in parts)
        if (side == -1 and not odd) or (side == 1 and odd):
            continue
        out[k] = _band_noise(rng, n, sfreq, 20.0, 45.0) * bg[k] * level * rng.uniform(0.5, 1.0)
    ramp = np.clip(np.arange(n) / max(1.0, ramp_s * sfreq), 0.0, 1.0)
    taper = np.clip((n - np.arange(n)) / max(1.0, 0.2 * sfreq), 0.0, 1.0)
    return out * ramp * taper


def muscle_burst(
    rng: np.random.Generator, data: np.ndarray, names: Sequence[str], sfreq: float, onset: int
) -> int:
    """Add a 0.5–4 s muscle burst (no seizure) at ``onset`` in place; returns its length."""
    n = min(int(rng.uniform(0.5, 4.0) * sfreq), data.shape[1] - onset)
    if n <= 0:
        return 0
    bg = channel_rms(data)
    data[:, onset : onset + n] += muscle_signal(
        rng, names, n, sfreq, bg, rng.uniform(0.5, 4.0)
    ).astype(data.dtype)
    return n


def rhythmic_burst(
    rng: np.random.Generator,
    data: np.ndarray,
    names: Sequence[str],
    sfreq: float,
    onset: int,
    sos: np.ndarray | None = None,
) -> int:
    """Add a 1–2.5 s rhythmic run (no seizure: too short) at ``onset`` in place; returns its
    length."""
    n = min(int(rng.uniform(1.0, 2.5) * sfreq), data.shape[1] - onset)
    if n <= int(0.5 * sfreq):
        return 0
    add_seizure(
        rng, data, names, sfreq, onset, n, sos, snr_range=(0.8, 3.0), p_muscle=0.0,
        p_attenuate=0.0, kind=str(rng.choice(["rhythmic", "spike_wave"])),
    )  # fmt: skip
    return n


def background_rhythm(
    rng: np.random.Generator,
    data: np.ndarray,
    names: Sequence[str],
    sfreq: float,
    sos: np.ndarray | None = None,
    snr_range: tuple[float, float] = (0.5, 2.5),
) -> dict:
    """Add a steady rhythm to the whole of ``data (C, T)`` in place (no seizure).

    A 4–12 Hz rhythm whose frequency stays within ±3 % and whose amplitude waxes and wanes
    (0.4–1.0 over 2–10 s), on a broad field (width 6–30 cm) around a random electrode, scaled to
    ``snr_range`` times the strongest channel's background. Returns ``{"freq", "snr"}``.
    """
    n = data.shape[1]
    pairs = ChannelPairs.from_names(names)
    pos = _positions()
    centre = int(rng.integers(len(ELECTRODES)))
    dist = np.linalg.norm(pos - pos[centre], axis=-1)
    gain = np.exp(-0.5 * (dist / rng.uniform(0.06, 0.30)) ** 2)
    freq = rng.uniform(4.0, 12.0)
    f = freq * _jitter(rng, n, sfreq, 0.03)
    wave = _harmonic_rhythm(rng, f, sfreq, rng.uniform(0.0, 0.5))
    period = rng.uniform(2.0, 10.0)
    env = 0.7 + 0.3 * np.sin(2 * np.pi * np.arange(n) / (period * sfreq) + rng.uniform(0, 6.3))
    field = gain[:, None] * (wave * env)[None]
    added = pairs.apply(field)
    if sos is not None and len(sos) and n > 3 * (2 * len(sos) + 1):
        added = signal.sosfiltfilt(sos, added, axis=-1)
    bg = channel_rms(data)
    ratio = np.sqrt(np.mean(added**2, axis=-1)) / bg
    snr = float(rng.uniform(*snr_range))
    data += (added * (snr / max(float(ratio.max()), 1e-12))).astype(data.dtype)
    return {"freq": float(freq), "snr": snr}
