"""Band-power features (``eegssm.models.band_power``) against scipy's Welch estimate and the
direct formula, on random inputs of awkward lengths and extreme scales, and in the probe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import welch

from eegssm.models.band_power import DEFAULT_BANDS, TINY, BandPower, welch_psd


def reference(x: np.ndarray, sfreq: float, nperseg: int) -> np.ndarray:
    """Log relative band power from ``scipy.signal.welch`` (float64): ``(B, C · n_bands)``."""
    f, p = welch(x, fs=sfreq, nperseg=min(nperseg, x.shape[-1]), axis=-1)
    bp = np.stack([p[..., (f >= lo) & (f < hi)].mean(-1) for lo, hi in DEFAULT_BANDS], -1)
    return np.log(bp / bp.sum(-1, keepdims=True)).reshape(len(x), -1)


@pytest.mark.parametrize("n_times", [3840, 1280, 1001, 257, 256])
@pytest.mark.parametrize("sfreq", [128.0, 100.0, 250.0])
def test_welch_psd_equals_scipy(n_times, sfreq):
    rng = np.random.default_rng(n_times)
    nperseg = round(2 * sfreq)
    x = rng.standard_normal((2, 3, n_times)) * np.exp(rng.normal(0, 3, (2, 3, 1)))
    f_ref, p_ref = welch(x, fs=sfreq, nperseg=min(nperseg, n_times), axis=-1)
    f, p = welch_psd(torch.from_numpy(x), sfreq, nperseg)
    np.testing.assert_allclose(f.numpy(), f_ref)
    np.testing.assert_allclose(p.numpy(), p_ref, rtol=1e-10, atol=1e-12 * p_ref.max())


@pytest.mark.parametrize("n_times", [3840, 1000, 301])
def test_band_power_equals_the_scipy_reference(n_times):
    rng = np.random.default_rng(1)
    # 1/f-like signals with a 10-Hz rhythm: every band holds power
    t = np.arange(n_times) / 128.0
    x = rng.standard_normal((4, 5, n_times)).cumsum(-1) * 0.1 + np.sin(2 * np.pi * 10 * t)
    got = BandPower(128.0)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, reference(x, 128.0, 256), rtol=1e-9, atol=1e-9)
    got32 = BandPower(128.0)(torch.from_numpy(x.astype(np.float32)))
    assert got32.dtype == torch.float32
    np.testing.assert_allclose(got32.numpy(), reference(x, 128.0, 256), atol=1e-4)


def test_band_power_is_scale_free_and_direct():
    """Relative power does not depend on the signal's scale (µV or V); and a pure sinusoid
    puts (nearly) all of its power in its own band."""
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.standard_normal((2, 3, 2560)))
    bp = BandPower(128.0)
    for scale in (1e-6, 1e6):
        torch.testing.assert_close(bp(x * scale), bp(x), rtol=1e-9, atol=1e-9)
    t = torch.arange(3840, dtype=torch.float64) / 128.0
    alpha = torch.sin(2 * torch.pi * 10.25 * t)[None, None]  # between bins: leakage stays close
    share = bp(alpha).exp()[0]
    assert share[2] > 0.99 and share.sum().item() == pytest.approx(1.0)


def test_flat_and_tiny_inputs_stay_finite():
    x = torch.zeros(2, 3, 1280, dtype=torch.float64)
    x[1, 1] = torch.randn(1280, dtype=torch.float64) * 1e-30  # denormal-range power
    out = BandPower(128.0)(x)
    assert torch.isfinite(out).all()
    # a flat channel: uniform shares
    torch.testing.assert_close(out[0, :6], torch.full((6,), np.log(1 / 6), dtype=torch.float64))
    # a band without power (a pure 2-Hz tone: nothing above ~4 Hz) is floored, not -inf
    t = torch.arange(2560, dtype=torch.float64) / 128.0
    tone = BandPower(128.0)(torch.sin(2 * torch.pi * 2 * t)[None, None])
    assert torch.isfinite(tone).all() and tone.min() >= np.log(TINY) - 1e-9


def test_short_windows_use_one_segment_of_their_length():
    x = torch.randn(1, 2, 100, dtype=torch.float64)  # shorter than the 256-sample segment
    out = BandPower(128.0)(x)
    assert out.shape == (1, 12) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "sfreq, bands, match",
    [
        (64.0, ((30.0, 45.0),), "Nyquist"),
        (128.0, ((8.0, 4.0),), "within"),
        (None, DEFAULT_BANDS, "sampling rate"),
        (float("nan"), DEFAULT_BANDS, "sampling rate"),
    ],
)
def test_bad_settings_are_clear_errors(sfreq, bands, match):
    with pytest.raises(ValueError, match=match):
        BandPower(sfreq, bands)


def test_probe_with_band_power_reads_both_feature_sets():
    from eegssm.models.eegm2 import EEGM2
    from eegssm.models.eegm2_heads import LinearProbe

    enc = EEGM2.from_preset("cpu", n_chans=5, sfreq=128.0)
    probe = LinearProbe(enc, 2, band_power=True).eval()
    assert probe.final_layer.in_features == enc.feature_dim + 5 * 6
    x = torch.randn(3, 5, 1280)
    z = probe.norm(torch.cat([enc.encode(x).mean(-1), BandPower(128.0)(x)], -1))
    torch.testing.assert_close(probe.penultimate(x), z)
    assert [n for n, p in probe.named_parameters() if p.requires_grad] == [
        "final_layer.weight",
        "final_layer.bias",
    ]
    with pytest.raises(ValueError, match="sfreq"):
        LinearProbe(EEGM2.from_preset("cpu", n_chans=5), 2, band_power=True)
