"""Streaming detection: the stateful causal model (with its real graph PE) equals the offline
causal model, online preprocessing equals whole-signal causal filtering, and ``eegssm monitor``
raises alarms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import signal

from eegssm.models.detector import SeizureDetector
from eegssm.preprocessing.online import OnlinePreprocessor, StreamingResampler, resample_filter
from eegssm.preprocessing.pipeline import get_preset
from eegssm.streaming import OnlineAlarm, StreamingDetector

SFREQ = 256


@pytest.fixture(autouse=True)
def one_thread():
    """Streaming runs many tiny forward calls: one thread avoids OpenMP spin-waiting on a
    loaded machine (10x slower with two threads, see docs/benchmarks/streaming.md)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def small_model(core: str, seed: int = 0) -> SeizureDetector:
    torch.manual_seed(seed)
    return SeizureDetector.from_preset(
        "fast",
        core=core,
        causal=True,
        tcn_channels=(16, 16),
        tcn_dilations=(1, 2),
        d_node=16,
        node_layers=2,
        node_headdim=16,
        readout_dim=16,
        decoder_channels=(16, 8, 8),
    ).eval()


def stream(det: StreamingDetector, x: np.ndarray, chunk: int) -> np.ndarray:
    out = [det.push(x[:, s : s + chunk]) for s in range(0, x.shape[1], chunk)]
    return np.concatenate([*out, det.flush()])


def offline(model: SeizureDetector, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.sigmoid(model(torch.from_numpy(x)[None]))[0].numpy()


@pytest.mark.parametrize("core", ["mamba2", "gated_deltanet"])
def test_streamed_equals_offline(core):
    model = small_model(core)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((19, 150 * SFREQ + 37)).astype(np.float32)  # 150 s, ragged end
    ref = offline(model, x)
    for chunk_s in (1.0, 0.37, 10.0):
        probs = stream(StreamingDetector(model), x, int(round(chunk_s * SFREQ)))
        assert probs.shape == ref.shape
        assert np.abs(probs - ref).max() < 1e-4, (chunk_s, np.abs(probs - ref).max())


def test_bundled_causal_checkpoint_streams():
    from eegssm.checkpoints import checkpoint_path
    from eegssm.data.synthetic import make_recording
    from eegssm.preprocessing.pipeline import preprocess

    model = SeizureDetector.from_pretrained(checkpoint_path("causal")).eval()
    x = preprocess(make_recording(120.0, n_seizures=1, seed=3)).data
    ref = offline(model, x)
    probs = stream(StreamingDetector(model), x, SFREQ)
    assert np.abs(probs - ref).max() < 1e-4


def test_interleaved_streams_are_independent():
    model = small_model("mamba2", seed=1)
    rng = np.random.default_rng(1)
    a, b = (rng.standard_normal((19, 40 * SFREQ)).astype(np.float32) for _ in range(2))
    da, db = StreamingDetector(model), StreamingDetector(model)
    outa, outb = [], []
    for s in range(0, a.shape[1], 300):
        outa.append(da.push(a[:, s : s + 300]))
        outb.append(db.push(b[:, s : s + 300]))
    outa.append(da.flush())
    outb.append(db.flush())
    assert np.abs(np.concatenate(outa) - offline(model, a)).max() < 1e-4
    assert np.abs(np.concatenate(outb) - offline(model, b)).max() < 1e-4


def test_streaming_needs_a_causal_model():
    with pytest.raises(ValueError, match="causal"):
        StreamingDetector(SeizureDetector.from_preset("fast", causal=False))


def test_online_filter_equals_sosfilt_on_the_whole_signal():
    cfg = get_preset("seizure", normalize=None)
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((4, 30 * SFREQ)) * 20 + 50).astype(np.float32)  # with DC offset
    pre = OnlinePreprocessor(cfg, SFREQ, 4)
    out = np.concatenate([pre.push(x[:, s : s + 97]) for s in range(0, x.shape[1], 97)], 1)
    zi = signal.sosfilt_zi(pre.sos)[:, None, :] * x[None, :, :1].astype(np.float64)
    ref, _ = signal.sosfilt(pre.sos, x.astype(np.float64), axis=-1, zi=zi)
    np.testing.assert_allclose(out, ref, atol=1e-3, rtol=1e-5)


def test_online_zscore_is_chunk_independent_and_converges():
    cfg = get_preset("seizure")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 60 * SFREQ)) * 30).astype(np.float32)
    whole = OnlinePreprocessor(cfg, SFREQ, 3).push(x)
    pre = OnlinePreprocessor(cfg, SFREQ, 3)
    chunked = np.concatenate([pre.push(x[:, s : s + 250]) for s in range(0, x.shape[1], 250)], 1)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert abs(whole[:, -10 * SFREQ :].std() - 1.0) < 0.1  # running stats settle near unit scale
    frozen = OnlinePreprocessor(cfg, SFREQ, 3, freeze_after_s=5.0)
    f1 = np.concatenate([frozen.push(x[:, s : s + 333]) for s in range(0, x.shape[1], 333)], 1)
    np.testing.assert_allclose(f1, OnlinePreprocessor(cfg, SFREQ, 3, 5.0).push(x), atol=1e-5)
    assert frozen.count == 5 * SFREQ


@pytest.mark.parametrize("sfreq_in", [500.0, 200.0])
def test_streaming_resampler_equals_upfirdn(sfreq_in):
    from eegssm.preprocessing.filters import resample_factors

    f = resample_factors(sfreq_in, SFREQ)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, int(7 * sfreq_in))).astype(np.float32)
    rs = StreamingResampler(2, f.numerator, f.denominator)
    out = np.concatenate([rs.push(x[:, s : s + 123]) for s in range(0, x.shape[1], 123)], 1)
    h = resample_filter(f.numerator, f.denominator)
    ref = signal.upfirdn(h, x.astype(np.float64), f.numerator, f.denominator, axis=-1)
    assert out.shape[1] == -(-x.shape[1] * f.numerator // f.denominator)
    np.testing.assert_allclose(out, ref[:, : out.shape[1]], atol=1e-4)


def test_online_alarm_hysteresis_and_min_duration():
    from eegssm.postprocess import PostprocessConfig

    cfg = PostprocessConfig(on_threshold=0.9, off_threshold=0.5, closing_s=1.0, min_duration_s=3.0)
    p = np.zeros(40 * 10, dtype=np.float32)  # 10 Hz
    p[50:60] = 0.95  # 1 s burst: too short for an alarm
    p[100:105] = 0.95
    p[105:180] = 0.6  # held above off
    p[180:185] = 0.1  # 0.5 s dip: bridged
    p[185:200] = 0.7
    alarm = OnlineAlarm(cfg, 10.0)
    got = [ev for s in range(0, p.size, 7) for ev in alarm.push(p[s : s + 7])]
    assert [k for k, _ in got] == ["alarm", "end"]
    a = got[0][1]
    assert a.onset == pytest.approx(10.0) and a.time == pytest.approx(13.0)
    assert a.end == pytest.approx(20.0)


def test_monitor_command_on_a_synthetic_edf(tmp_path, capsys):
    from eegssm.cli import main
    from eegssm.data.synthetic import write_synthetic

    edf, _ = write_synthetic(tmp_path / "rec", duration_s=150.0, n_seizures=1, seed=7)
    assert main(["monitor", str(edf), "--speed", "0", "--chunk-s", "2"]) == 0
    out = capsys.readouterr().out
    assert "ALARM" in out and "latency" in out
    assert "CPU time per second of EEG" in out
