"""IIR filters for EEG: Butterworth and notch design, and zero-phase filtering of many channels.

The maths of ``scipy.signal.butter(..., output="sos")``, ``iirnotch`` and ``sosfiltfilt``,
written out with numpy so that preprocessing does not import ``scipy.signal`` (0.7 s, a seventh
of ``eegssm detect`` on an hour of EEG) and filters all channels at once in C
(:mod:`eegssm.preprocessing._iir`, ~10x faster than scipy's per-channel loop;
``benchmarks/preprocess.py``). ``tests/test_iir.py`` checks each piece against scipy.

Design (Butterworth, via the analog prototype and the bilinear transform, as in Oppenheim &
Schafer and ``scipy.signal.iirfilter``):

1. prototype: ``N`` poles ``-exp(iπ m / 2N)``, ``m = -N+1, -N+3, …, N-1``, no zeros, gain 1;
2. pre-warp the edges ``ω = 4 tan(π f / fs)`` (rad/s of the analog filter with ``fs = 2``);
3. low-pass → low-pass ``p ω``; → high-pass ``ω / p`` with zeros at 0; → band-pass
   ``p ω_bw/2 ± sqrt((p ω_bw/2)² - ω_0²)`` with ``ω_0 = sqrt(ω_1 ω_2)``, ``ω_bw = ω_2 - ω_1`` and
   ``N`` zeros at 0;
4. bilinear transform ``z = (4 + s) / (4 - s)``; zeros at infinity go to ``z = -1``;
5. second-order sections: each conjugate pair of poles (or a real pole) with its nearest zeros,
   the poles closest to the unit circle last, the gain in the first section.

Notch (Orfanidis, *Introduction to Signal Processing*, 1996, as ``scipy.signal.iirnotch``): at
``ω_0 = 2π f_0 / fs`` with bandwidth ``ω_0 / Q``, ``β = tan(ω_0 / 2Q)``, ``g = 1 / (1 + β)``::

    b = g · (1, -2 cos ω_0, 1)      a = (1, -2 g cos ω_0, 2g - 1)

Zero-phase filtering (:func:`sosfiltfilt`): ``scipy.signal.sosfiltfilt`` with its defaults (odd
extension of ``3 (2S + 1)`` samples, less one per section of lower order, at each end; start
from the steady state for the first sample; forward, then backward over the forward output).
"""

from __future__ import annotations

import os

import numpy as np

try:
    from eegssm.preprocessing import _iir
except ImportError as err:  # built by `pip install` where a C compiler is found (setup.py)
    _iir = None
    _MISSING = f"the C extension eegssm.preprocessing._iir is not built ({err})"
else:
    _MISSING = None

#: What :func:`backend` reports when the C filter runs.
C_FILTER = "C, all channels at once (eegssm.preprocessing._iir)"


def reason() -> str | None:
    """Why the C filter cannot run here (None when it can): not built, or
    ``EEGSSM_DISABLE_KERNELS=1``."""
    if os.environ.get("EEGSSM_DISABLE_KERNELS") == "1":
        return "EEGSSM_DISABLE_KERNELS=1"
    return _MISSING


def available() -> bool:
    """Whether :func:`sosfiltfilt` runs in C (else scipy.signal, channel by channel)."""
    return reason() is None


# ---------------------------------------------------------------------------------------------
# Design


def _prototype(order: int) -> np.ndarray:
    """Poles of the analog Butterworth low-pass prototype (cut-off 1 rad/s)."""
    m = np.arange(-order + 1, order, 2)
    return -np.exp(1j * np.pi * m / (2 * order))


def butter_zpk(
    order: int, edges: float | tuple[float, float], btype: str, sfreq: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Zeros, poles and gain of a digital Butterworth filter (``scipy.signal.butter(order,
    edges, btype, fs=sfreq, output="zpk")``).

    Args:
        order: ``N`` (a band-pass has ``2N`` poles).
        edges: -3 dB frequency in Hz (``"lowpass"``, ``"highpass"``) or ``(low, high)``
            (``"bandpass"``), strictly between 0 and ``sfreq / 2``.
        btype: ``"lowpass"``, ``"highpass"`` or ``"bandpass"``.
        sfreq: sampling rate in Hz.
    """
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    wn = np.atleast_1d(np.asarray(edges, dtype=np.float64)) / (sfreq / 2.0)
    if btype == "bandpass":
        if wn.shape != (2,) or not wn[0] < wn[1]:
            raise ValueError(f"a band-pass needs two edges, low < high, got {edges}")
    elif btype in ("lowpass", "highpass"):
        if wn.shape != (1,):
            raise ValueError(f"a {btype} needs one edge, got {edges}")
    else:
        raise ValueError(f"btype must be 'lowpass', 'highpass' or 'bandpass', got {btype!r}")
    if not np.all((wn > 0) & (wn < 1)):
        raise ValueError(f"edges must lie strictly between 0 and {sfreq / 2:g} Hz, got {edges}")
    warped = 4.0 * np.tan(np.pi * wn / 2.0)  # pre-warped, for the bilinear transform at fs = 2
    p, z, k = _prototype(order), np.zeros(0, complex), 1.0
    if btype == "lowpass":
        p, k = p * warped[0], warped[0] ** order
    elif btype == "highpass":
        k = float(np.real(1.0 / np.prod(-p)))
        p, z = warped[0] / p, np.zeros(order, complex)
    else:
        bw, w0 = warped[1] - warped[0], np.sqrt(warped[0] * warped[1])
        half = p * bw / 2.0
        root = np.sqrt(half**2 - w0**2)
        p, z, k = np.concatenate([half + root, half - root]), np.zeros(order, complex), bw**order
    # bilinear transform, fs2 = 2 * fs = 4
    k = float(k * np.real(np.prod(4.0 - z) / np.prod(4.0 - p)))
    zd = np.concatenate([(4.0 + z) / (4.0 - z), -np.ones(len(p) - len(z))])
    pd = (4.0 + p) / (4.0 - p)
    return zd, pd, k


def zpk_to_sos(z: np.ndarray, p: np.ndarray, k: float) -> np.ndarray:
    """Second-order sections ``(S, 6)`` of a digital filter whose zeros are real and whose poles
    are real or in conjugate pairs, as many zeros as poles (a Butterworth filter).

    Each pole pair (or real pole, with a pole and a zero at 0 to fill the section) takes the
    zeros nearest to it; sections with poles closer to the unit circle come later; the gain
    multiplies the first section's numerator. (``scipy.signal.zpk2sos``'s ``"nearest"``
    pairing for this family of filters.)
    """
    z = np.real_if_close(np.asarray(z, complex), tol=1e6)
    if np.iscomplexobj(z) or len(z) != len(p):
        raise ValueError("zpk_to_sos handles real zeros and as many zeros as poles")
    zeros = list(np.asarray(z, np.float64))
    poles = [complex(v) for v in p if v.imag > 0] + [complex(v.real) for v in p if v.imag == 0]
    reals = [v for v in poles if v.imag == 0]
    if len(reals) % 2:
        zeros.append(0.0)
        poles.append(0j)
    if 2 * sum(v.imag > 0 for v in p) + len(reals) != len(p):
        raise ValueError("complex poles must come in conjugate pairs")
    sections: list[np.ndarray] = []
    while poles:
        i = int(np.argmin([abs(1 - abs(v)) for v in poles]))  # the worst pole: last section
        p1 = poles.pop(i)
        if p1.imag != 0:
            pair = (p1, p1.conjugate())
        else:  # a real pole goes with the real pole nearest the unit circle left
            j = int(np.argmin([abs(1 - abs(v)) if v.imag == 0 else np.inf for v in poles]))
            pair = (p1, poles.pop(j))
        near = sorted(range(len(zeros)), key=lambda n: abs(zeros[n] - p1))[:2]
        zpair = [zeros[n] for n in near]
        for n in sorted(near, reverse=True):
            zeros.pop(n)
        b = np.real(np.poly(zpair))
        a = np.real(np.poly(pair))
        sections.insert(0, np.concatenate([b, a]))
    sos = np.array(sections, dtype=np.float64).reshape(-1, 6)
    if len(sos):
        sos[0, :3] *= k
    return sos


def butter_sos(
    order: int, edges: float | tuple[float, float], btype: str, sfreq: float
) -> np.ndarray:
    """Second-order sections (float64 ``(S, 6)``) of a Butterworth filter
    (``scipy.signal.butter(..., fs=sfreq, output="sos")``); arguments as :func:`butter_zpk`."""
    return zpk_to_sos(*butter_zpk(order, edges, btype, sfreq))


def notch_section(freq: float, quality: float, sfreq: float) -> np.ndarray:
    """One second-order section ``(1, 6)`` notching ``freq`` Hz with quality factor ``quality``
    (-3 dB width ``freq / quality``; ``scipy.signal.iirnotch`` as sections)."""
    if not 0 < freq < sfreq / 2:
        raise ValueError(f"notch frequency must lie between 0 and {sfreq / 2:g} Hz, got {freq}")
    w0 = 2.0 * np.pi * freq / sfreq
    beta = np.tan(w0 / quality / 2.0)
    gain = 1.0 / (1.0 + beta)
    b = gain * np.array([1.0, -2.0 * np.cos(w0), 1.0])
    a = np.array([1.0, -2.0 * gain * np.cos(w0), 2.0 * gain - 1.0])
    return np.concatenate([b, a])[None, :]


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    """``(S, 2)`` state of each section (transposed direct form II) in steady state for a unit
    step into the cascade (``scipy.signal.sosfilt_zi``). A section ``b/a`` fed a constant ``u``
    settles where ``(1 + a1) z0 - z1 = u (b1 - a1 b0)`` and ``a2 z0 + z1 = u (b2 - a2 b0)``; the
    next section is fed ``u · H(1) = u · sum(b) / sum(a)``."""
    sos = np.asarray(sos, dtype=np.float64)
    zi = np.zeros((len(sos), 2))
    scale = 1.0
    for s, (b0, b1, b2, a0, a1, a2) in enumerate(sos):
        b0, b1, b2, a1, a2 = b0 / a0, b1 / a0, b2 / a0, a1 / a0, a2 / a0
        r0, r1 = b1 - a1 * b0, b2 - a2 * b0
        z0 = (r0 + r1) / (1.0 + a1 + a2)
        zi[s] = scale * z0, scale * (r1 - a2 * z0)
        scale *= (b0 + b1 + b2) / (1.0 + a1 + a2)
    return zi


def padlen(sos: np.ndarray) -> int:
    """Samples of odd extension at each end (``scipy.signal.sosfiltfilt``'s default)."""
    sos = np.asarray(sos)
    nz = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * (2 * len(sos) + 1 - nz)


# ---------------------------------------------------------------------------------------------
# Zero-phase filtering


def sosfiltfilt(data: np.ndarray, sos: np.ndarray, threads: int = 1) -> np.ndarray:
    """Zero-phase filter the rows of ``data`` **in place** with the C cascade.

    Args:
        data: ``(C, T)`` float32, C-contiguous and writable; ``T`` must exceed :func:`padlen`.
        sos: ``(S, 6)`` second-order sections (normalised so that ``a0 = 1``).
        threads: POSIX threads sharing groups of channels.

    Returns:
        ``data``, filtered (arithmetic in double, the result rounded to float32).

    Raises:
        RuntimeError: the extension is not built (check :func:`available`).
        ValueError: a layout, dtype or length it cannot filter.
    """
    if _iir is None:
        raise RuntimeError(_MISSING)
    if data.ndim != 2 or data.dtype != np.float32:
        raise ValueError(f"sosfiltfilt: need (C, T) float32, got {data.shape} {data.dtype}")
    if not (data.flags.c_contiguous and data.flags.writeable):
        raise ValueError("sosfiltfilt: the array must be C-contiguous and writable")
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    if sos.ndim != 2 or sos.shape[1] != 6 or not np.all(sos[:, 3] == 1.0):
        raise ValueError(f"sosfiltfilt: need (S, 6) sections with a0 = 1, got {sos.shape}")
    if len(sos) == 0:
        return data
    edge = padlen(sos)
    if data.shape[1] <= edge:
        raise ValueError(f"sosfiltfilt: {data.shape[1]} samples; the filter needs more than {edge}")
    if data.shape[0] == 0:
        return data
    zi = np.ascontiguousarray(sosfilt_zi(sos))
    _iir.filtfilt(
        (data.ctypes.data, sos.ctypes.data, zi.ctypes.data),
        (data.shape[0], data.shape[1], data.shape[1], len(sos), edge),
        max(1, int(threads)),
    )
    return data
