"""The PyTorch-free inference path (:mod:`eegssm.engine`) against the PyTorch model.

Each piece against its PyTorch counterpart on random inputs (awkward lengths, extreme values),
then the whole forward pass against ``SeizureDetector.forward`` on random weights and on the
bundled checkpoint, flat electrodes (ties in the graph's top-k) included, then ``eegssm detect``
on one recording (the engine) and on two (PyTorch), whose outputs must agree.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eegssm import engine
from eegssm.checkpoints import checkpoint_path
from eegssm.models.detector import SeizureDetector

pytestmark = pytest.mark.skipif(
    engine.unavailable() is not None, reason=f"engine: {engine.unavailable()}"
)


def test_gelu_matches_pytorch_including_extremes():
    rng = np.random.default_rng(0)
    x = np.concatenate([
        rng.standard_normal(10_001) * 3,
        [0.0, -0.0, 1e-30, -1e-30, 5.0, -5.0, 9.0, -9.0, 30.0, -30.0, 1e4, -1e4, 3e38, -3e38],
    ]).astype(np.float32)  # fmt: skip
    want = F.gelu(torch.from_numpy(x).double()).numpy()
    got = engine.gelu_(x.copy(), 2)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-7)
    assert np.isfinite(got).all()


@pytest.mark.parametrize("d", [1, 8, 32, 33])
def test_layer_norm_matches_pytorch(d):
    rng = np.random.default_rng(d)
    x = (rng.standard_normal((7, 5, d)) * 10 + 3).astype(np.float32)
    x[0, 0] = 4.0  # a constant row: variance 0, normalised to zeros (then the bias)
    w, b = rng.standard_normal(d).astype(np.float32), rng.standard_normal(d).astype(np.float32)
    want = F.layer_norm(torch.from_numpy(x), (d,), torch.from_numpy(w), torch.from_numpy(b))
    np.testing.assert_allclose(engine.layer_norm(x, w, b, 3), want.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(engine.layer_norm(x, None, None, 1), F.layer_norm(
        torch.from_numpy(x), (d,)).numpy(), rtol=1e-5, atol=1e-5)  # fmt: skip


@pytest.mark.parametrize(
    ("k", "stride", "dilation", "left", "right", "length", "c_out"),
    [
        (7, 1, 1, 3, 3, 50, 32),  # the TCN's sizes
        (7, 1, 4, 12, 12, 37, 32),  # dilated, "same": every row reads padding or not
        (7, 1, 4, 12, 12, 5000, 32),  # long: blocks of rows, tiles, a last tile that overlaps
        (16, 8, 1, 4, 4, 64, 32),  # the stem: kernel 2s, stride s
        (16, 8, 1, 4, 4, 8, 32),  # one output row
        (16, 8, 1, 4, 4, 8 * 1020 * 2 + 8 * 7, 48),  # whole blocks, three tiles of channels
        (4, 2, 1, 1, 1, 10, 4),  # channels not a multiple of 16: one row at a time
        (1, 1, 1, 0, 0, 9, 32),  # 1x1 (the residual and down projections)
        (5, 1, 1, 4, 0, 6000, 24),  # causal padding, long
        (3, 2, 2, 0, 3, 11, 16),  # strided and dilated
        (9, 1, 1, 30, 30, 5, 16),  # padding wider than the input: no row without it
    ],
)
@pytest.mark.parametrize("gelu", [False, True])
def test_conv_act_matches_conv1d(k, stride, dilation, left, right, length, c_out, gelu):
    rng = np.random.default_rng(k * 100 + length + c_out)
    x = rng.standard_normal((3, 5, length)).astype(np.float32)  # (n, C_in, L)
    w = rng.standard_normal((c_out, 5, k)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    want = F.conv1d(F.pad(torch.from_numpy(x).double(), (left, right)),
                    torch.from_numpy(w).double(), torch.from_numpy(b).double(), stride, 0,
                    dilation)  # fmt: skip
    want = (F.gelu(want) if gelu else want).numpy().transpose(0, 2, 1)
    rows = np.ascontiguousarray(x.transpose(0, 2, 1))
    W = engine.conv_weight(w)
    got = engine.conv_act(rows, W, b, k, stride, dilation, left, right, gelu, threads=3)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)
    one = engine.conv_act(rows, W, b, k, stride, dilation, left, right, gelu, threads=1)
    np.testing.assert_array_equal(one, got)  # the same sums on every thread count
    nob = engine.conv_act(rows, W, None, k, stride, dilation, left, right, gelu, threads=1)
    want = F.conv1d(F.pad(torch.from_numpy(x).double(), (left, right)),
                    torch.from_numpy(w).double(), None, stride, 0, dilation)  # fmt: skip
    want = (F.gelu(want) if gelu else want).numpy().transpose(0, 2, 1)
    np.testing.assert_allclose(nob, want, rtol=2e-5, atol=2e-5)
    assert engine.conv_act(rows[:, :0], W, b, k, stride, dilation, 0, 0).shape[1] == 0


def test_conv_act_tiles_equal_rows():
    """Rows computed in register tiles and rows computed one at a time (the padded edges) sum
    in the same order: a constant input gives the same output in every interior row."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((32, 32, 7)).astype(np.float32)
    x = np.ones((1, 100, 32), np.float32) * 0.37
    W = engine.conv_weight(w)
    got = engine.conv_act(x, W, None, 7, 1, 1, 0, 0, threads=1)  # no padding: all tiles but
    assert np.all(got == got[0, 0])  # ... the tail (recomputed tile) agree bit for bit
    edge = engine.conv_act(x, W, None, 7, 1, 1, 3, 3, threads=1)  # padding: edge rows alone
    np.testing.assert_array_equal(edge[0, 3:-3], got[0])


@pytest.mark.parametrize(
    ("k", "stride", "c_out", "left", "right", "length", "scale"),
    [
        (16, 8, 16, 4, 4, 64 * 1000 + 7, 1.0),  # the bundled stem, register tiles and a tail
        (16, 8, 16, 4, 4, 8 * 6 * 1024 + 8, 30.0),  # large inputs (GELU tails)
        (16, 8, 16, 4, 4, 17, 1.0),  # fewer rows than one register tile
        (16, 8, 16, 0, 0, 16, 1e-3),  # one output
        (5, 2, 3, 2, 1, 41, 1.0),  # other sizes: the general loop
    ],
)
def test_conv_act_one_input_channel_matches_pytorch(k, stride, c_out, left, right, length, scale):
    """The first stem layer: one input channel (the raw electrode) into 16, GELU."""
    rng = np.random.default_rng(length)
    x = (scale * rng.standard_normal((2, length))).astype(np.float32)
    w = rng.standard_normal((c_out, 1, k)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    conv = F.conv1d(F.pad(torch.from_numpy(x)[:, None].double(), (left, right)),
                    torch.from_numpy(w).double(), torch.from_numpy(b).double(), stride)  # fmt: skip
    want = F.gelu(conv).numpy().transpose(0, 2, 1)
    W = engine.conv_weight(w)
    got = engine.conv_act(x[:, :, None], W, b, k, stride, 1, left, right, gelu=True, threads=3)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5 * scale)


@pytest.mark.parametrize(("factor", "k", "length"), [(4, 5, 1), (4, 5, 23), (2, 3, 9), (3, 7, 5)])
def test_upsample_conv_is_conv_of_upsampled(factor, k, length):
    rng = np.random.default_rng(factor * k + length)
    x = rng.standard_normal((2, 6, length)).astype(np.float32)
    w = rng.standard_normal((3, 6, k)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    total = k - 1
    up = torch.from_numpy(x).repeat_interleave(factor, dim=-1)
    padded = F.pad(up, (total // 2, total - total // 2))
    want = F.conv1d(padded, torch.from_numpy(w), torch.from_numpy(b))
    W, lo, span = engine.upsample_conv_weight(w, factor, total // 2)
    got = engine.upsample_conv_rows(np.ascontiguousarray(x.transpose(0, 2, 1)), W, b, lo, span,
                                    factor)  # fmt: skip
    np.testing.assert_allclose(got, want.numpy().transpose(0, 2, 1), rtol=1e-5, atol=2e-5)


def _saved_model(tmp_path: Path, seed: int, n_chans: int = 6, **overrides) -> Path:
    torch.manual_seed(seed)
    model = SeizureDetector.from_preset("fast", n_chans=n_chans, **overrides).eval()
    with torch.no_grad():  # move every parameter off its initial value (biases start at 0)
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.save_pretrained(tmp_path / f"model{seed}")


def _torch_logits(folder: Path, data: np.ndarray) -> np.ndarray:
    model = SeizureDetector.from_pretrained(folder).eval()
    with torch.inference_mode():
        return model(torch.from_numpy(data)[None])[0].numpy()


@pytest.mark.parametrize(("n_chans", "length"), [(2, 64), (6, 1000), (6, 64 * 151 + 37), (5, 7)])
def test_engine_equals_model_random_weights(tmp_path, n_chans, length):
    folder = _saved_model(tmp_path, seed=length)
    data = np.random.default_rng(length).standard_normal((n_chans, length)).astype(np.float32)
    want = _torch_logits(folder, data)
    got = engine.DetectorEngine.from_folder(folder, threads=2).logits(data)
    assert got.shape == want.shape == (length,)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5 * max(1.0, np.abs(want).max()))


def test_engine_equals_model_with_flat_electrodes(tmp_path):
    """Zero electrodes have the same similarity (0) to every other: their graph rows are all
    ties, broken towards the lower index by both (``topk_adjacency``)."""
    folder = _saved_model(tmp_path, seed=3, n_chans=8)
    data = np.random.default_rng(3).standard_normal((8, 64 * 200)).astype(np.float32)
    data[[1, 4, 5]] = 0.0
    want = _torch_logits(folder, data)
    got = engine.DetectorEngine.from_folder(folder, threads=3).logits(data)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5 * max(1.0, np.abs(want).max()))


def test_engine_threads_agree(tmp_path):
    folder = _saved_model(tmp_path, seed=5)
    data = np.random.default_rng(5).standard_normal((6, 64 * 300)).astype(np.float32)
    one = engine.DetectorEngine.from_folder(folder, threads=1).logits(data)
    three = engine.DetectorEngine.from_folder(folder, threads=3).logits(data)
    np.testing.assert_allclose(one, three, rtol=1e-5, atol=1e-5)


def test_bundled_checkpoint_on_eeg_like_input():
    folder = checkpoint_path()
    rng = np.random.default_rng(11)
    t = np.arange(256 * 300) / 256
    data = np.sin(2 * np.pi * 3 * t) * (t > 150) * 3 + rng.standard_normal((18, t.size))
    data = data.astype(np.float32)
    want = _torch_logits(folder, data)
    eng = engine.DetectorEngine.from_folder(folder)
    np.testing.assert_allclose(eng.logits(data), want, rtol=1e-4, atol=2e-5 * np.abs(want).max())
    probs = eng.probabilities(data)
    np.testing.assert_allclose(probs, torch.sigmoid(torch.from_numpy(want)).numpy(), atol=1e-5)
    assert set(eng.timings) == {
        "front end + node stream", "edge stream", "graph, fusion, readout, decoder"
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"causal": True}, "causal"),
        ({"core": "gated_deltanet"}, "core"),
        ({"per_electrode": False}, "per_electrode"),
        ({"readout": "flat"}, "readout"),
    ],
)
def test_supports_names_what_it_does_not_run(change, words):
    meta = json.loads((checkpoint_path() / "config.json").read_text())
    assert engine.supports(meta) is None
    meta["config"].update(change)
    assert words in engine.supports(meta)
    with pytest.raises(ValueError, match="does not run this model"):
        engine.DetectorEngine(meta, {})


def test_engine_never_imports_torch():
    code = (
        "import sys, numpy as np\n"
        "from eegssm.engine import DetectorEngine\n"
        f"e = DetectorEngine.from_folder({str(checkpoint_path())!r})\n"
        "p = e.probabilities(np.random.default_rng(0).standard_normal((18, 6400)))\n"
        "assert p.shape == (6400,) and np.isfinite(p).all()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_detect_runs_the_engine_and_agrees_with_pytorch(tmp_path, shared_data, monkeypatch):
    """``eegssm detect`` runs the engine on the recordings it reads whole, PyTorch where the
    kernels are turned off: the same events, and the engine's probabilities equal PyTorch's on
    a real recording."""
    from eegssm.cli import main
    from eegssm.detection import Detector

    edf = sorted((shared_data / "eegmat").glob("*.edf"))[0]
    args = ["detect", str(edf), str(edf.with_name("Subject00_2.edf")), "-q", "--out"]
    assert main([*args, str(tmp_path / "engine")]) == 0
    with monkeypatch.context() as m:
        m.setenv("EEGSSM_DISABLE_KERNELS", "1")
        assert main([*args, str(tmp_path / "torch")]) == 0
    for stem in (edf.stem, "Subject00_2"):
        one = json.loads((tmp_path / "engine" / f"{stem}.json").read_text())
        two = json.loads((tmp_path / "torch" / f"{stem}.json").read_text())
        assert (one["runtime"], two["runtime"]) == ("eegssm.engine", "pytorch")
        assert one["events"] == two["events"]

    detector = Detector.from_checkpoint()
    prepared = detector.prepare_file(edf)
    with_torch = detector.infer(prepared).probs
    assert detector.use_engine() is None
    with_engine = detector.infer(prepared)
    assert with_engine.runtime == "eegssm.engine"
    np.testing.assert_allclose(with_engine.probs, with_torch, atol=1e-5)


def _blocks(data: np.ndarray, sizes: list[int]):
    """``data (C, T)`` cut into consecutive blocks of the given sizes (the last takes the rest)."""
    edges = np.cumsum([0, *sizes])
    return [data[:, a:b] for a, b in zip(edges[:-1], [*edges[1:-1], data.shape[1]], strict=True)]


@pytest.mark.parametrize(
    ("length", "sizes", "chunk", "memory"),
    [
        (64 * 700 + 13, [5000, 17, 30000], 100, 1 << 30),  # in memory, odd blocks and length
        (64 * 700 + 13, [64 * 700 + 13], 100, 0),  # one block, features in a file
        (64 * 401, [999] * 25, 20, 0),  # the smallest chunk: the graph's schedule (lcm 20)
        (64 * 90, [64 * 90], 7200, 0),  # one chunk shorter than the halos
        (130, [100], 100, 0),  # shorter than one chunk's halo and than two frames
    ],
)
def test_blocks_equal_whole_recording(tmp_path, length, sizes, chunk, memory):
    """A recording run block by block (features in memory or in a temporary file, chunks of
    frames with halos) gives the logits of the whole recording at once, which equal the
    PyTorch model's."""
    folder = _saved_model(tmp_path, seed=11, n_chans=5)
    data = np.random.default_rng(length).standard_normal((5, length)).astype(np.float32)
    eng = engine.DetectorEngine.from_folder(folder, threads=2)
    whole = eng.logits(data)
    seen = []
    got = eng.logits_blocks(
        _blocks(data, sizes), length, progress=seen.append, memory_bytes=memory,
        tmpdir=str(tmp_path), chunk_frames=chunk,
    )  # fmt: skip
    assert got.shape == (length,) and sum(seen) == length
    np.testing.assert_allclose(got, whole, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(whole).max()))
    want = _torch_logits(folder, data)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5 * max(1.0, np.abs(want).max()))
    assert not list(tmp_path.glob("eegssm-engine-*")), "the temporary folder was left behind"
    probs = eng.probabilities_blocks(_blocks(data, sizes), length, chunk_frames=chunk)
    np.testing.assert_allclose(probs, eng.probabilities(data), atol=1e-6)


def test_blocks_reject_bad_input(tmp_path):
    folder = _saved_model(tmp_path, seed=12, n_chans=3)
    eng = engine.DetectorEngine.from_folder(folder)
    data = np.zeros((3, 6400), np.float32)
    with pytest.raises(ValueError, match="expected n_times=7000"):
        eng.logits_blocks([data], 7000)
    with pytest.raises(ValueError, match="more than n_times"):
        eng.logits_blocks([data, data], 6400 + 100)
    with pytest.raises(ValueError, match="one C"):
        eng.logits_blocks([data, data[:2]], 12800)
    assert eng.logits_blocks([], 0).shape == (0,)


def test_bundled_checkpoint_blocks_on_a_real_recording(shared_data):
    """The bundled checkpoint on a real recording read block by block by ``run_file`` (the way
    ``eegssm detect`` reads a long one): the engine's probabilities equal PyTorch's."""
    from eegssm.detection import Detector

    edf = sorted((shared_data / "eegmat").glob("*.edf"))[0]
    detector = Detector.from_checkpoint()
    with_torch = detector.run_file(edf, block_s=20.0)
    assert with_torch.runtime == "pytorch"
    assert detector.use_engine() is None
    with_engine = detector.run_file(edf, block_s=20.0)
    assert with_engine.runtime == "eegssm.engine"
    np.testing.assert_allclose(with_engine.probs, with_torch.probs, atol=1e-5)
    assert with_engine.events == with_torch.events


def test_detect_reads_a_long_recording_block_by_block_without_torch(tmp_path, shared_data):
    """A recording too long to read whole (here: the limit set to 0) goes block by block
    through the engine: PyTorch is never imported."""
    edf = sorted((shared_data / "eegmat").glob("*.edf"))[0]
    out = tmp_path / "out"
    code = (
        "import sys\n"
        "import eegssm.preprocessing.blockwise as blockwise\n"
        "blockwise.IN_MEMORY_BYTES = 0\n"
        "from eegssm.cli import main\n"
        f"assert main(['detect', {str(edf)!r}, '--out', {str(out)!r}, '-q']) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    doc = json.loads((out / f"{edf.stem}.json").read_text())
    assert doc["runtime"] == "eegssm.engine"
    from eegssm.detection import READ_AHEAD_WAIT

    assert READ_AHEAD_WAIT in doc["timings_s"]  # the block-by-block path


def test_read_ahead_hands_over_items_errors_and_stops():
    """``_Ahead`` (blocks read one ahead on a thread) yields the items in order, raises the
    producer's error in the consumer, and ``close`` stops a producer the consumer left."""
    import threading

    from eegssm.detection import _Ahead

    ahead = _Ahead(iter(range(5)))
    assert list(ahead) == [0, 1, 2, 3, 4]
    assert list(ahead) == []  # exhausted stays exhausted
    ahead.close()

    def failing():
        yield 1
        raise ValueError("block 2 is damaged")

    ahead = _Ahead(failing())
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="block 2 is damaged"):
        next(ahead)
    ahead.close()

    made = []

    def endless():
        while True:
            made.append(len(made))
            yield made[-1]

    ahead = _Ahead(endless())
    assert next(ahead) == 0
    ahead.close()  # the consumer gave up: the thread ends instead of waiting forever
    assert not any(t.name == "eegssm-read-ahead" for t in threading.enumerate())
    assert len(made) <= 3  # one handed over, one in the queue, one waiting to be put
