"""IIR design and the C zero-phase filter against scipy.signal (the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from eegssm.preprocessing import filters, iir

needs_c = pytest.mark.skipif(not iir.available(), reason=str(iir.reason()))

DESIGNS = [
    (1, 10.0, "lowpass", 256.0),
    (4, 0.5, "highpass", 256.0),
    (3, 0.5, "highpass", 250.0),
    (5, 40.0, "lowpass", 200.0),
    (4, (0.5, 120.0), "bandpass", 256.0),
    (2, (1.0, 30.0), "bandpass", 128.0),
    (7, (0.1, 100.0), "bandpass", 500.0),
    (10, (0.3, 45.0), "bandpass", 173.61),
]


@pytest.mark.parametrize("order, edges, btype, fs", DESIGNS)
def test_butterworth_sections_equal_scipy(order, edges, btype, fs):
    """The same sections as scipy.signal.butter(..., output="sos"), to round-off, and the same
    frequency response."""
    mine = iir.butter_sos(order, edges, btype, fs)
    ref = signal.butter(order, edges, btype=btype, fs=fs, output="sos")
    assert mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, rtol=1e-12, atol=1e-14)
    _, h_mine = signal.sosfreqz(mine, 4096, fs=fs)
    _, h_ref = signal.sosfreqz(ref, 4096, fs=fs)
    np.testing.assert_allclose(h_mine, h_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "freq, q, fs",
    [(50.0, 30.0, 256.0), (60.0, 30.0, 256.0), (120.0, 30.0, 256.0), (60.0, 5.0, 500.0)],
)
def test_notch_equals_scipy(freq, q, fs):
    ref = signal.tf2sos(*signal.iirnotch(freq, q, fs=fs))
    np.testing.assert_allclose(iir.notch_section(freq, q, fs), ref, rtol=1e-12, atol=1e-14)


def test_design_refuses_impossible_edges():
    with pytest.raises(ValueError, match="between 0 and 128"):
        iir.butter_sos(4, 130.0, "lowpass", 256.0)
    with pytest.raises(ValueError, match="low < high"):
        iir.butter_sos(4, (30.0, 1.0), "bandpass", 256.0)
    with pytest.raises(ValueError, match="btype"):
        iir.butter_sos(4, 1.0, "bandstop", 256.0)
    with pytest.raises(ValueError, match="order"):
        iir.butter_sos(0, 1.0, "lowpass", 256.0)
    with pytest.raises(ValueError, match="notch frequency"):
        iir.notch_section(130.0, 30.0, 256.0)


@pytest.mark.parametrize("order, edges, btype, fs", DESIGNS)
def test_steady_state_equals_scipy(order, edges, btype, fs):
    sos = iir.butter_sos(order, edges, btype, fs)
    np.testing.assert_allclose(iir.sosfilt_zi(sos), signal.sosfilt_zi(sos), rtol=1e-9, atol=1e-12)


SEIZURE_SOS = filters.design_filter(256.0, 0.5, 120.0, 60.0)


def _rel_rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b**2)))


@needs_c
@pytest.mark.parametrize("channels", [1, 2, 5, 9, 15, 16, 17, 18, 33])
@pytest.mark.parametrize("n", [40, 255, 256, 257, 1000, 5003])
def test_c_filter_equals_scipy_sosfiltfilt(channels, n):
    """Random signals with an offset, awkward lengths (just above the padding, around the C
    code's 256-step blocks) and channel counts around its groups of lanes (up to 16 lanes, in
    vectors of 4): scipy's float64 result to float32 round-off."""
    rng = np.random.default_rng(channels * 7919 + n)
    x = rng.standard_normal((channels, n)) * 30 + rng.uniform(-500, 500, (channels, 1))
    x = x.astype(np.float32)
    assert n > iir.padlen(SEIZURE_SOS)
    ref = signal.sosfiltfilt(SEIZURE_SOS, x.astype(np.float64), axis=-1)
    got = iir.sosfiltfilt(x.copy(), SEIZURE_SOS)
    assert got.dtype == np.float32 and got.shape == x.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=2e-6 * np.abs(ref).max() + 1e-6)


@needs_c
@pytest.mark.parametrize("order, edges, btype, fs", DESIGNS)
def test_c_filter_equals_scipy_for_every_design(order, edges, btype, fs):
    """Low-/high-/band-pass of orders 1-10 (first-order sections shorten scipy's padding) with
    notches: scipy's float64 result to 1e-6 of the RMS."""
    sos = iir.butter_sos(order, edges, btype, fs)
    if fs >= 200:
        sos = np.vstack([sos, iir.notch_section(50.0, 30.0, fs)])
    rng = np.random.default_rng(order)
    x = np.cumsum(rng.standard_normal((3, 20_011)), axis=1).astype(np.float32)
    ref = signal.sosfiltfilt(sos, x.astype(np.float64), axis=-1)
    assert _rel_rms(iir.sosfiltfilt(x.copy(), sos), ref) < 1e-6


@needs_c
def test_c_filter_is_more_accurate_than_scipy_in_float32():
    rng = np.random.default_rng(5)
    x = (np.cumsum(rng.standard_normal((4, 200_000)), axis=1) + 1e4).astype(np.float32)
    ref = signal.sosfiltfilt(SEIZURE_SOS, x.astype(np.float64), axis=-1)
    scipy32 = signal.sosfiltfilt(SEIZURE_SOS.astype(np.float32), x, axis=-1)
    ours = _rel_rms(iir.sosfiltfilt(x.copy(), SEIZURE_SOS), ref)
    assert ours < 1e-6 and ours < _rel_rms(scipy32, ref) / 10


@needs_c
def test_c_filter_extreme_values_and_non_finite_channels():
    """Amplitudes of 1e30 scale exactly (a linear filter in double); a NaN or inf sample spoils
    its own channel only (each lane is computed alone)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3000)).astype(np.float32)
    base = iir.sosfiltfilt(x.copy(), SEIZURE_SOS)
    big = iir.sosfiltfilt(x * np.float32(1e30), SEIZURE_SOS)
    np.testing.assert_allclose(big / 1e30, base, rtol=1e-5, atol=1e-6 * np.abs(base).max())
    bad = x.copy()
    bad[1, 1500] = np.nan
    bad[3, 10] = np.inf
    out = iir.sosfiltfilt(bad, SEIZURE_SOS)
    assert not np.isfinite(out[1]).any() and not np.isfinite(out[3]).all()
    assert np.array_equal(out[[0, 2, 4]], base[[0, 2, 4]])


@needs_c
def test_c_filter_threads_and_grouping_give_the_same_bits():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((37, 4000)).astype(np.float32)
    one = iir.sosfiltfilt(x.copy(), SEIZURE_SOS, threads=1)
    for threads in (2, 3, 7, 100):
        assert np.array_equal(iir.sosfiltfilt(x.copy(), SEIZURE_SOS, threads=threads), one)
    alone = np.concatenate([iir.sosfiltfilt(x[i : i + 1].copy(), SEIZURE_SOS) for i in range(37)])
    assert np.array_equal(alone, one)


@needs_c
def test_c_filter_works_in_place_and_filtfilt_copies_unless_allowed():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 2000)).astype(np.float32)
    keep = x.copy()
    y = filters.filtfilt(x, SEIZURE_SOS)
    assert np.array_equal(x, keep) and not np.shares_memory(x, y)
    z = filters.filtfilt(x, SEIZURE_SOS, overwrite=True)
    assert z is x and np.array_equal(z, y)
    one = filters.filtfilt(keep[0], SEIZURE_SOS)  # 1-D
    assert one.shape == (2000,) and np.array_equal(one, y[0])
    f64 = filters.filtfilt(keep.astype(np.float64), SEIZURE_SOS, overwrite=True)  # copied
    assert f64.dtype == np.float32 and np.array_equal(f64, y)


@needs_c
def test_c_filter_refuses_what_it_cannot_filter():
    sos = SEIZURE_SOS
    edge = iir.padlen(sos)
    with pytest.raises(ValueError, match="needs more than"):
        iir.sosfiltfilt(np.zeros((2, edge), np.float32), sos)
    with pytest.raises(ValueError, match="float32"):
        iir.sosfiltfilt(np.zeros((2, 500)), sos)
    with pytest.raises(ValueError, match="C-contiguous"):
        iir.sosfiltfilt(np.zeros((500, 2), np.float32).T, sos)
    frozen = np.zeros((2, 500), np.float32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        iir.sosfiltfilt(frozen, sos)
    with pytest.raises(ValueError, match="a0 = 1"):
        iir.sosfiltfilt(np.zeros((2, 500), np.float32), sos * 2)
    empty = np.zeros((0, 500), np.float32)
    assert iir.sosfiltfilt(empty, sos) is empty


def test_padding_length_is_scipys_default():
    """scipy pads 3 (2S + 1) samples, less 3 per first-order section: a signal one sample
    longer than that is accepted by both, one sample shorter by neither."""
    for sos in (SEIZURE_SOS, iir.butter_sos(3, 10.0, "lowpass", 256.0)):
        edge = iir.padlen(sos)
        x = np.random.default_rng(0).standard_normal(edge + 1)
        signal.sosfiltfilt(sos, x)
        with pytest.raises(ValueError):
            signal.sosfiltfilt(sos, x[:edge])
