"""``eegssm.stream_engine``: the causal detector's ``forward_stream`` in numpy and C, against the
PyTorch model (streamed and offline), piece by piece."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from eegssm import engine
from eegssm.checkpoints import checkpoint_path
from eegssm.models.detector import SeizureDetector
from eegssm.stream_engine import StreamEngine
from eegssm.streaming import StreamingDetector

pytestmark = pytest.mark.skipif(engine.unavailable() is not None, reason="C kernels not built")


def _causal_model(tmp_path: Path, seed: int, n_chans: int = 5, **overrides) -> Path:
    torch.manual_seed(seed)
    model = SeizureDetector.from_preset("fast", n_chans=n_chans, causal=True, **overrides).eval()
    with torch.no_grad():  # move every parameter off its initial value (biases start at 0)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.save_pretrained(tmp_path / f"causal{seed}")


def _streamed(eng: StreamEngine, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    """The engine's logits of ``x`` fed in pieces of ``sizes`` samples (cycled)."""
    out, state, a, i = [], None, 0, 0
    while a < x.shape[1]:
        n = sizes[i % len(sizes)]
        y, state = eng.forward_stream(x[:, a : a + n], state)
        out.append(y)
        a, i = a + n, i + 1
    return np.concatenate(out)


@pytest.mark.parametrize(
    ("sizes", "overrides"),
    [
        ([64], {}),  # one frame at a time: most pieces complete no pooled step
        ([256], {}),  # 1-s chunks (the monitor's default)
        ([64 * 7, 64 * 3, 64 * 13], {}),  # pieces across pooled steps and PE intervals
        ([64 * 60], {}),  # one long piece: several pooled steps and PEs per piece
        ([128], {"edge_pool": 1}),  # a graph per step, no causal shift
        ([64 * 3], {"pe_interval": 1, "top_k": 2}),  # the PE recomputed at every step
        ([64 * 5], {"tcn_dilations": (1, 3, 9), "decoder_kernel": 3}),
    ],
)
def test_stream_engine_equals_pytorch(tmp_path, sizes, overrides):
    folder = _causal_model(tmp_path, seed=len(sizes) + sum(sizes), **overrides)
    model = SeizureDetector.from_pretrained(folder).eval()
    x = np.random.default_rng(sum(sizes)).standard_normal((5, 64 * 60)).astype(np.float32)
    with torch.inference_mode():
        offline = model(torch.from_numpy(x)[None])[0].numpy()
        state, pieces, a = None, [], 0
        while a < x.shape[1]:  # the PyTorch model streamed in the same pieces
            n = sizes[len(pieces) % len(sizes)]
            y, state = model.forward_stream(torch.from_numpy(x[:, a : a + n])[None], state)
            pieces.append(y[0].numpy())
            a += n
    streamed = np.concatenate(pieces)
    got = _streamed(StreamEngine.from_folder(folder), x, sizes)
    assert got.shape == offline.shape == (x.shape[1],)
    scale = max(1.0, np.abs(offline).max())
    np.testing.assert_allclose(got, streamed, rtol=1e-4, atol=2e-5 * scale)
    np.testing.assert_allclose(got, offline, rtol=1e-4, atol=2e-5 * scale)


def test_bundled_causal_checkpoint_streams_like_pytorch():
    """The bundled causal checkpoint through ``StreamingDetector``: the engine's probabilities
    equal the PyTorch model's, chunk by chunk, flush included (chunks that are not whole
    frames wait in the buffer)."""
    folder = checkpoint_path("causal")
    x = np.random.default_rng(1).standard_normal((18, 256 * 20 + 100)).astype(np.float32)
    eng = StreamingDetector(StreamEngine.from_folder(folder))
    ref = StreamingDetector(SeizureDetector.from_pretrained(folder))
    for a in range(0, x.shape[1], 300):  # 300 samples: frames complete at odd places
        got, want = eng.push(x[:, a : a + 300]), ref.push(x[:, a : a + 300])
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=2e-6)
    np.testing.assert_allclose(eng.flush(), ref.flush(), atol=2e-6)
    assert eng.samples_out == ref.samples_out == x.shape[1]
    eng.reset()  # a new recording: the same probabilities as the first time
    again = np.concatenate([eng.push(x[:, a : a + 300]) for a in range(0, x.shape[1], 300)])
    ref.reset()
    first = np.concatenate([ref.push(x[:, a : a + 300]) for a in range(0, x.shape[1], 300)])
    np.testing.assert_allclose(again, first, atol=2e-6)


def test_stream_engine_rejects_bad_input_and_models(tmp_path):
    eng = StreamEngine.from_folder(checkpoint_path("causal"))
    with pytest.raises(ValueError, match="multiple of the stride 64"):
        eng.forward_stream(np.zeros((18, 100), np.float32))
    with pytest.raises(ValueError, match="C >= 2"):
        eng.forward_stream(np.zeros((1, 64), np.float32))
    y, state = eng.forward_stream(np.zeros((18, 0), np.float32))
    assert y.shape == (0,) and state.step == 0
    with pytest.raises(ValueError, match="causal=False"):  # the bidirectional checkpoint
        StreamEngine.from_folder(checkpoint_path("default"))
    meta = json.loads((checkpoint_path("causal") / "config.json").read_text())
    assert engine.supports(meta, causal=True) is None
    assert "causal=True" in engine.supports(meta)  # the offline engine runs the other kind


def test_monitor_runs_on_the_stream_engine(tmp_path, capsys, monkeypatch):
    """``eegssm monitor`` runs the engine on a CPU, PyTorch where the kernels are off: the same
    alarms either way."""
    from eegssm.cli import main
    from eegssm.data.synthetic import write_synthetic

    edf, _ = write_synthetic(tmp_path / "rec", duration_s=120.0, n_seizures=1, seed=7)
    outs = {}
    for runtime in ("eegssm.stream_engine", "PyTorch (EEGSSM_DISABLE_KERNELS=1)"):
        if runtime.startswith("PyTorch"):
            monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
        assert main(["monitor", str(edf), "--speed", "0"]) == 0
        out = capsys.readouterr().out
        assert f"on {runtime} (on " in out
        assert "CPU time per second of EEG" in out and "in 120.0 s of EEG" in out
        # alarm lines without the processing latency (wall clock)
        outs[runtime] = [ln.split("; processing")[0] for ln in out.splitlines() if "ALARM" in ln]
    engine_alarms, torch_alarms = outs.values()
    assert len(engine_alarms) == 1 and engine_alarms == torch_alarms
