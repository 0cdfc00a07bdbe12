"""Filters against the direct formula, resampling of a sine, normalisation statistics, pipeline."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from eegssm.io.types import Event, Recording
from eegssm.preprocessing import filters
from eegssm.preprocessing.montages import REFERENTIAL_19
from eegssm.preprocessing.pipeline import PreprocessConfig, get_preset, preprocess

FS = 256.0


def _sine(freq, n_seconds=40.0, fs=FS, phase=0.3, amp=50.0):
    t = np.arange(int(n_seconds * fs)) / fs
    return t, (amp * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def _fit(y, t, freq):
    """Amplitude and phase of the ``freq`` component of ``y`` (least squares, middle half)."""
    mid = slice(len(t) // 4, 3 * len(t) // 4)
    basis = np.stack([np.sin(2 * np.pi * freq * t[mid]), np.cos(2 * np.pi * freq * t[mid])], 1)
    (a, b), *_ = np.linalg.lstsq(basis, y[mid].astype(np.float64), rcond=None)
    return float(np.hypot(a, b)), float(np.arctan2(b, a))


def _zero_phase_gain(sos, freq, fs=FS):
    """Direct formula: filtfilt applies |H(f)|^2 with zero phase."""
    _, h = signal.sosfreqz(sos, worN=[freq], fs=fs)
    return float(np.abs(h[0]) ** 2)


SEIZURE_SOS = filters.design_filter(FS, 0.5, 120.0, 60.0)


@pytest.mark.parametrize("freq", [3.0, 10.0, 25.0, 40.0, 90.0])
def test_passband_keeps_amplitude_and_phase(freq):
    t, x = _sine(freq)
    y = filters.filtfilt(x, SEIZURE_SOS)
    amp_in, ph_in = _fit(x, t, freq)
    amp_out, ph_out = _fit(y, t, freq)
    assert y.dtype == np.float32
    assert amp_out / amp_in == pytest.approx(_zero_phase_gain(SEIZURE_SOS, freq), rel=1e-3)
    if freq <= 40:  # away from the notch skirts and the band edges
        assert amp_out / amp_in == pytest.approx(1.0, rel=0.01)
    assert abs(ph_out - ph_in) < 1e-3  # zero phase: no lag


def test_zero_phase_no_lag_by_cross_correlation():
    rng = np.random.default_rng(0)
    x = signal.sosfiltfilt(
        signal.butter(2, [2, 30], "band", fs=FS, output="sos"), rng.standard_normal(int(20 * FS))
    ).astype(np.float32)
    y = filters.filtfilt(x, SEIZURE_SOS)
    xc = signal.correlate(y, x, mode="full")
    assert int(np.argmax(xc)) - (len(x) - 1) == 0


@pytest.mark.parametrize("freq", [60.0, 120.0])
def test_notch_attenuates_line_noise_40db(freq):
    t, x = _sine(freq)
    y = filters.filtfilt(x, SEIZURE_SOS)
    ratio = _fit(y, t, freq)[0] / _fit(x, t, freq)[0]
    assert 20 * np.log10(ratio) < -40


def test_stopband_attenuated_40db_as_the_formula_says():
    sos = filters.design_filter(FS, 1.0, 30.0)
    t, x = _sine(80.0)
    ratio = _fit(filters.filtfilt(x, sos), t, 80.0)[0] / 50.0
    assert 20 * np.log10(ratio) < -40
    expected_db = 20 * np.log10(_zero_phase_gain(sos, 80.0))
    assert 20 * np.log10(ratio) == pytest.approx(expected_db, abs=3.0)
    t, slow = _sine(0.1, n_seconds=200.0)
    ratio = _fit(filters.filtfilt(slow, sos), t, 0.1)[0] / 50.0
    assert 20 * np.log10(ratio) < -40


@pytest.mark.parametrize("c_filter", [True, False])
def test_float32_filter_matches_float64(monkeypatch, c_filter):
    """Both paths (the C cascade in double, scipy in float32 without the extension) are within
    1e-3 of the RMS of scipy's float64 result (a drifting signal with an offset of 500 µV)."""
    if c_filter and not filters.iir.available():
        pytest.skip(filters.iir.reason())
    if not c_filter:
        monkeypatch.setattr(filters.iir, "available", lambda: False)
    rng = np.random.default_rng(1)
    x = (np.cumsum(rng.standard_normal((3, int(60 * FS))), axis=1) + 500).astype(np.float32)
    y32 = filters.filtfilt(x, SEIZURE_SOS, np.float32)
    y64 = signal.sosfiltfilt(SEIZURE_SOS, x.astype(np.float64), axis=-1)
    assert np.sqrt(np.mean((y32 - y64) ** 2)) < 1e-3 * np.sqrt(np.mean(y64**2))


def test_upper_edge_kept_below_nyquist_with_warning():
    with pytest.warns(UserWarning, match="Nyquist"):
        sos = filters.bandpass_sos(128.0, 0.5, 120.0)
    _, h = signal.sosfreqz(sos, worN=[57.6], fs=128.0)
    assert abs(h[0]) == pytest.approx(np.sqrt(0.5), rel=1e-3)  # -3 dB at 0.9 * Nyquist


def test_notch_harmonics_below_nyquist():
    assert filters.notch_frequencies(256.0, 60.0) == [60.0, 120.0]
    assert filters.notch_frequencies(500.0, 50.0) == [50.0, 100.0, 150.0, 200.0]
    assert filters.notch_frequencies(100.0, 60.0) == []
    assert filters.notch_sos(256.0, 60.0).shape == (2, 6)


def test_resample_sine_500_to_256():
    fs_in, freq = 500.0, 7.0
    t, x = _sine(freq, n_seconds=10.0, fs=fs_in)
    y, fs_out = filters.resample(np.stack([x, -x]), fs_in, 256.0)
    assert fs_out == 256.0 and y.dtype == np.float32
    assert y.shape == (2, int(np.ceil(len(x) * 64 / 125)))
    t_out = np.arange(y.shape[1]) / fs_out
    expected = 50.0 * np.sin(2 * np.pi * freq * t_out + 0.3)
    mid = slice(256, -256)
    np.testing.assert_allclose(y[0, mid], expected[mid], atol=0.05)
    np.testing.assert_allclose(y[1], -y[0])


def test_resample_irrational_ratio_warns_and_reports_rate():
    assert filters.resample_factors(500.0, 256.0) == filters.Fraction(64, 125)
    with pytest.warns(UserWarning, match="reaches"):
        y, fs = filters.resample(np.zeros((1, 4097), np.float32), 173.61, 256.0)
    assert fs == pytest.approx(256.0, rel=1e-3)
    assert y.shape[1] == pytest.approx(4097 * fs / 173.61, abs=1)


def test_zscore_statistics_and_clip():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 10000)) * [[1], [10], [100], [0]] + [[5], [-3], [0], [7]]
    x = x.astype(np.float32)
    z = filters.zscore(x, clip=None)
    np.testing.assert_allclose(z[:3].mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z[:3].std(axis=1), 1, rtol=1e-4)
    assert not z[3].any()  # flat channel -> zeros
    x[0, 10] = 1e4  # a huge artefact
    zc = filters.zscore(x, clip=10.0)
    assert zc.max() == pytest.approx(10.0) and np.abs(zc).max() <= 10.0


def test_channel_moments_equal_numpy():
    """Row by row in float64 = numpy's whole-array mean and std (float64 accumulation), for
    large offsets, a constant channel, NaN, float64 input and no samples."""
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((5, 30001)) * [[1], [1e3], [1e-3], [0], [50]] + 1e4).astype(np.float32)
    x[4, 7] = np.nan
    for data in (x, x.astype(np.float64)):
        mean, std = filters.channel_moments(data)
        np.testing.assert_allclose(mean, data.mean(-1, dtype=np.float64), rtol=1e-12)
        np.testing.assert_allclose(std, data.std(-1, dtype=np.float64), rtol=1e-9, atol=1e-12)
    assert std[3] == 0 and np.isnan(std[4])
    mean, std = filters.channel_moments(np.zeros((2, 0), np.float32))
    assert mean.shape == std.shape == (2,) and np.isnan(std).all()
    mean, std = filters.channel_moments(x[0])  # one channel as a 1-D array
    assert mean.shape == std.shape == () and std == pytest.approx(x[0].std(dtype=np.float64))


def test_percentile_scaling():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 5000)) * [[2], [20], [200]]).astype(np.float32)
    y = filters.percentile_scale(x)
    np.testing.assert_allclose(np.percentile(np.abs(y), 95, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(y[1] / y[1, 0], x[1] / x[1, 0], rtol=1e-5)  # no centring


def _recording(fs=500.0, seconds=30.0):
    t = np.arange(int(fs * seconds)) / fs
    rng = np.random.default_rng(4)
    data = 20 * rng.standard_normal((19, t.size)) + 30 * np.sin(2 * np.pi * 10 * t)
    data += 40 * np.sin(2 * np.pi * 60 * t)  # line noise
    names = [f"EEG {n}" for n in REFERENTIAL_19]
    return Recording(data.astype(np.float32), fs, names, [Event(5.0, 9.0, "seiz")])


def test_preprocess_seizure_preset():
    rec = _recording()
    timings: dict[str, float] = {}
    out = preprocess(rec, "seizure", timings)
    assert out.sfreq == 256.0 and out.ch_names == list(REFERENTIAL_19)
    assert out.data.dtype == np.float32 and out.data.shape == (19, 30 * 256)
    assert out.events == rec.events
    np.testing.assert_allclose(out.data.mean(axis=1), 0, atol=1e-4)
    np.testing.assert_allclose(out.data.std(axis=1), 1, rtol=1e-3)
    spec = np.abs(np.fft.rfft(out.data[0]))
    freqs = np.fft.rfftfreq(out.data.shape[1], 1 / 256)
    assert spec[np.argmin(np.abs(freqs - 60))] < 0.01 * spec[np.argmin(np.abs(freqs - 10))]
    assert set(timings) == {"montage", "resample", "filter", "normalise"}
    assert out.meta["preprocess"]["sfreq"] == 256.0


def test_preprocess_eegm2_preset():
    out = preprocess(_recording(fs=160.0), "eegm2")
    assert out.sfreq == 128.0 and out.data.shape == (19, 30 * 128)
    np.testing.assert_allclose(np.percentile(np.abs(out.data), 95, axis=1), 1.0, rtol=1e-4)


def test_config_validation_and_overrides():
    cfg = get_preset("seizure", notch=50.0, sfreq=200.0)
    assert cfg.notch == 50.0 and cfg.window_s == 60.0 and cfg.stride_s == 10.0
    assert get_preset("eegm2").window_s == 10.0
    with pytest.raises(ValueError):
        PreprocessConfig(l_freq=40.0, h_freq=30.0)
    with pytest.raises(ValueError):
        PreprocessConfig(bandpass=(1, 2))
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("fast")


@pytest.mark.parametrize("workers", [2, 3])
def test_filtering_and_resampling_on_threads_equal_one_call(monkeypatch, workers):
    """Long arrays are filtered / resampled on several threads by groups of channels; the
    values are bit for bit those of one scipy call over all channels (odd channel counts,
    uneven groups)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 160_000)).astype(np.float32)  # 1.1 M samples: threaded
    assert x.size >= filters.PARALLEL_MIN_SAMPLES
    monkeypatch.setattr(filters, "cpu_count", lambda: workers)
    sos = filters.design_filter(256.0, 0.5, 45.0, (50.0, 60.0))
    if filters.iir.available():  # the C filter: each channel's bits as if alone
        alone = np.stack([filters.filtfilt(row, sos) for row in x])
        assert np.array_equal(filters.filtfilt(x, sos), alone)
    monkeypatch.setattr(filters.iir, "available", lambda: False)  # scipy, by groups of rows
    one = signal.sosfiltfilt(sos.astype(np.float32), x, axis=-1).astype(np.float32)
    assert np.array_equal(filters.filtfilt(x, sos), one)
    got, rate = filters.resample(x, 500.0, 256.0)
    want = signal.resample_poly(x, 64, 125, axis=-1)
    assert rate == 256.0 and got.shape == want.shape
    assert np.array_equal(got, want.astype(got.dtype))
