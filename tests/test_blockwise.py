"""Long recordings, block by block: ``BlockwisePreprocessor``, ``predict_recording_blocks`` and
``Detector.run_file`` against the whole-recording pipeline they replace."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest

from eegssm.data.synthetic import make_recording, write_synthetic, write_synthetic_long
from eegssm.inference import predict_recording, predict_recording_blocks
from eegssm.io import open_recording, read_recording
from eegssm.io.types import Recording
from eegssm.preprocessing.blockwise import BlockwisePreprocessor, LazySignal
from eegssm.preprocessing.pipeline import NonFiniteSignalError, PreprocessError, get_preset
from eegssm.preprocessing.pipeline import preprocess as preprocess_whole


class ArraySource:
    """An in-memory stand-in for :class:`eegssm.io.RecordingSource` (any values, NaN too)."""

    def __init__(self, rec: Recording) -> None:
        self.rec = rec
        self.path = Path("memory.edf")
        self.sfreq = rec.sfreq
        self.ch_names = list(rec.ch_names)
        self.n_times = rec.n_times
        self.n_channels = rec.n_channels
        self.duration = rec.duration
        self.events = list(rec.events)
        self.meta = {"source": "memory.edf"}

    def read(self, start=0, stop=None):
        return np.array(self.rec.data[:, start:stop], dtype=np.float32)


@pytest.fixture(scope="module")
def edf_500hz(tmp_path_factory) -> Path:
    """10 minutes at 500 Hz (resampled to 256 Hz by the seizure preset), one seizure."""
    edf, _ = write_synthetic(
        tmp_path_factory.mktemp("long") / "rec", duration_s=600, sfreq=500.0, n_seizures=1, seed=5
    )
    return edf


def _concat(pre: BlockwisePreprocessor) -> np.ndarray:
    return np.concatenate(list(pre.blocks()), axis=1)


def test_blocks_equal_whole_recording_in_float64(edf_500hz):
    """With float64 filtering the only difference left is the IIR tail beyond the margin."""
    cfg = get_preset("seizure", filter_dtype="float64")
    whole = preprocess_whole(read_recording(edf_500hz), cfg)
    # 131 s blocks: not a multiple of anything; the last block is short.
    pre = BlockwisePreprocessor(open_recording(edf_500hz), cfg, block_s=131.0, margin_s=30.0)
    assert pre.n_blocks == 5
    out = _concat(pre)
    assert out.shape == whole.data.shape and pre.sfreq == whole.sfreq == 256.0
    np.testing.assert_allclose(out, whole.data, atol=1e-5, rtol=0)


def test_fixed_scale_blocks_equal_whole_and_keep_microvolts(edf_500hz):
    """``normalize="fixed"``: x / scale_uv, so blocks need no statistics and 1 unit is 50 µV."""
    rec = read_recording(edf_500hz)
    cfg = get_preset("seizure", filter_dtype="float64", normalize="fixed", scale_uv=50.0, clip=None)
    whole = preprocess_whole(rec, cfg)
    raw_uv = preprocess_whole(rec, get_preset("seizure", filter_dtype="float64", normalize=None))
    np.testing.assert_allclose(whole.data * 50.0, raw_uv.data, rtol=1e-5, atol=1e-4)
    out = _concat(BlockwisePreprocessor(open_recording(edf_500hz), cfg, block_s=131.0))
    np.testing.assert_allclose(out, whole.data, atol=1e-6, rtol=0)


def test_blocks_float32_within_filter_roundoff(edf_500hz):
    """The default float32 cascade differs from the whole-recording one by its own round-off."""
    whole = preprocess_whole(read_recording(edf_500hz), "seizure")
    out = _concat(BlockwisePreprocessor(open_recording(edf_500hz), "seizure", block_s=200.0))
    assert np.abs(out - whole.data).max() < 5e-3
    assert np.sqrt(np.mean((out - whole.data) ** 2)) < 1e-4


def test_read_any_stretch_and_lazy_recording(edf_500hz):
    cfg = get_preset("seizure", filter_dtype="float64")
    whole = preprocess_whole(read_recording(edf_500hz), cfg)
    pre = BlockwisePreprocessor(open_recording(edf_500hz), cfg, block_s=100.0)
    for a, b in [(0, 1), (12345, 23456), (whole.n_times - 7, whole.n_times + 50), (5, 5)]:
        np.testing.assert_allclose(pre.read(a, b), whole.data[:, a:b], atol=1e-5, rtol=0)
    rec = pre.recording()
    assert isinstance(rec.data, LazySignal)
    assert rec.data.shape == whole.data.shape and rec.duration == pytest.approx(600.0)
    np.testing.assert_allclose(rec.data[:3, 1000:1100], whole.data[:3, 1000:1100], atol=1e-5)
    assert rec.meta["flat"] == [] and rec.meta["blockwise"]["blocks"] == pre.n_blocks
    assert [e.start for e in rec.events] == [e.start for e in read_recording(edf_500hz).events]
    with pytest.raises(TypeError):
        rec.data[:, ::2]


def test_flat_and_unused_channels_match_whole():
    rec = make_recording(300.0, sfreq=256.0, n_seizures=0, seed=1)
    data = rec.data.copy()
    data[3] = 7.0  # a flat electrode
    extra = np.full((1, rec.n_times), np.nan, dtype=np.float32)  # NaN in a channel not used
    rec = rec.copy_with(data=np.concatenate([data, extra]), ch_names=[*rec.ch_names, "X9"])
    with pytest.warns(UserWarning, match="flat channel.*P3"):
        whole = preprocess_whole(rec, "seizure")
    pre = BlockwisePreprocessor(ArraySource(rec), "seizure", block_s=70.0)
    with pytest.warns(UserWarning, match="flat channel.*P3"):
        out = _concat(pre)
    # the flat electrode is treated as missing: interpolated like any missing electrode
    assert pre.recording().meta["flat_inputs"] == whole.meta["flat_inputs"] == ["P3"]
    assert whole.meta["interpolated"] == ["P3"] and whole.meta["flat"] == []
    assert out[3].any()
    assert np.abs(out - whole.data).max() < 5e-3
    # without the flat-input check, a constant channel stays zero after normalisation
    kept = preprocess_whole(rec, get_preset("seizure", flat_uv=None))
    assert kept.meta["flat"] == ["P3"] and not kept.data[3].any()


def test_one_pass_equals_scan_then_blocks_and_finds_flat_channels(edf_500hz):
    """A fixed scale needs no statistics: ``blocks_in_one_pass`` gives the blocks of
    ``scan`` + ``blocks`` bit for bit, and flags a recording with a flat electrode (or a
    constant derivation) for the two passes; a z-score refuses it."""
    cfg = get_preset("seizure", normalize="fixed", scale_uv=50.0)
    two = BlockwisePreprocessor(open_recording(edf_500hz), cfg, block_s=131.0)
    two.scan()
    one = BlockwisePreprocessor(open_recording(edf_500hz), cfg, block_s=131.0)
    assert not one.needs_statistics
    assert np.array_equal(np.concatenate(list(one.blocks_in_one_pass()), 1), _concat(two))
    assert not one.scan_needed and one.recording().meta["flat"] == []

    rec = make_recording(300.0, sfreq=256.0, n_seizures=0, seed=1)
    banana = cfg.model_copy(update={"montage": "double_banana"})
    for row, value in ((3, 7.0), (None, None)):  # a flat electrode; a constant derivation
        data = rec.data.copy()
        if row is not None:
            data[row] = value
        else:
            data[rec.ch_names.index("F3")] = data[rec.ch_names.index("C3")]  # F3-C3 is 0
        source = ArraySource(rec.copy_with(data=data))
        flat = BlockwisePreprocessor(source, banana, block_s=70.0)
        list(flat.blocks_in_one_pass())
        assert flat.scan_needed and flat.mean is None  # recording() would scan first
        scanned = BlockwisePreprocessor(source, banana, block_s=70.0)
        with pytest.warns(UserWarning) if row is not None else nullcontext():
            scanned.scan()  # the scan finds it too
        assert scanned.flat_inputs == (["P3"] if row is not None else [])
        assert scanned.flat.any() == (row is None)
    with pytest.raises(PreprocessError, match="needs scan"):
        next(BlockwisePreprocessor(open_recording(edf_500hz), "seizure").blocks_in_one_pass())


def test_run_file_with_a_flat_electrode_runs_the_two_passes(tmp_path):
    """A long file with a disconnected electrode: the one pass finds it, the file is read
    again with it left out (warned about), and the result equals the in-memory pipeline's."""
    from eegssm.data.synthetic import write_edf
    from eegssm.detection import Detector

    rec = make_recording(400.0, sfreq=256.0, n_seizures=1, seed=9)
    data = rec.data.copy()
    data[rec.ch_names.index("P3")] = 3.0
    edf = write_edf(tmp_path / "flat.edf", data, rec.sfreq, rec.ch_names)
    detector = Detector.from_checkpoint()
    with pytest.warns(UserWarning, match="flat channel.*P3"):
        whole = detector.run(read_recording(edf), threshold=0.5)
    with pytest.warns(UserWarning, match="flat channel.*P3"):
        long = detector.run_file(edf, threshold=0.5, block_s=150.0)
    assert long.recording.meta["flat_inputs"] == ["P3"]
    assert "scan (read + preprocess, pass 1)" in long.timings
    assert np.abs(long.probs - whole.probs).max() < 5e-3


def test_nan_in_used_channel_is_refused_with_name_and_time():
    rec = make_recording(300.0, sfreq=256.0, n_seizures=0, seed=2)
    rec.data[5, 200 * 256 + 10] = np.nan
    pre = BlockwisePreprocessor(ArraySource(rec), "seizure", block_s=70.0)
    with pytest.raises(NonFiniteSignalError, match=rf"{rec.ch_names[5]}.*200\.0"):
        pre.scan()


def test_p95_needs_one_block():
    rec = make_recording(120.0, sfreq=128.0, n_seizures=0, seed=3)
    with pytest.raises(PreprocessError, match="whole recording"):
        BlockwisePreprocessor(ArraySource(rec), "eegm2", block_s=30.0)
    pre = BlockwisePreprocessor(ArraySource(rec), "eegm2")  # one block: exact
    np.testing.assert_allclose(_concat(pre), preprocess_whole(rec, "eegm2").data, atol=1e-6)


@pytest.mark.parametrize(
    ("n_times", "window", "stride", "sizes"),
    [
        (1000, 100, 50, [1000]),
        (1000, 100, 50, [1, 99, 100, 333, 467]),
        (1000, 100, 30, [250, 250, 250, 250]),  # last window ends exactly at the end
        (1003, 100, 100, [500, 3, 500]),
        (60, 100, 50, [10, 50]),  # shorter than a window: one zero-padded window
        (1000, 100, 150, [400, 600]),  # stride longer than a window: gaps
    ],
)
def test_predict_recording_blocks_equals_whole(n_times, window, stride, sizes):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((3, n_times)).astype(np.float32)
    weights = rng.standard_normal(3).astype(np.float32)

    def model(x):  # (B, C, W) -> (B, W), position-dependent so misplaced windows show
        import torch

        pos = torch.linspace(-1, 1, x.shape[-1])
        return torch.einsum("bcw,c->bw", x, torch.from_numpy(weights)) + pos

    whole = predict_recording(model, data, window, stride, batch_size=3)
    bounds = np.cumsum([0, *sizes])
    blocks = [data[:, a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    parts = predict_recording_blocks(model, blocks, n_times, window, stride, batch_size=3)
    np.testing.assert_allclose(parts, whole, atol=1e-6)
    with pytest.raises(ValueError, match="expected n_times"):
        predict_recording_blocks(model, blocks[:-1] or [data[:, :1]], n_times, window, stride)


def test_run_file_blockwise_matches_in_memory(edf_500hz, tmp_path):
    from eegssm.detection import Detector
    from eegssm.report.html import page_data, write_report

    detector = Detector.from_checkpoint()
    whole = detector.run(read_recording(edf_500hz), threshold=0.5)
    short = detector.run_file(edf_500hz, threshold=0.5)  # fits in one block: same path
    np.testing.assert_array_equal(short.probs, whole.probs)
    assert set(short.timings) == {"read", "preprocess", "model", "postprocess"}
    long = detector.run_file(edf_500hz, threshold=0.5, block_s=150.0)
    assert long.recording.meta["blockwise"]["blocks"] == 4
    # float32 filter round-off (up to 1.8e-4 of the normalised signal here) moves probabilities
    # a little: 1.4e-3 measured with the bundled checkpoint in one pass (6e-4 with windows,
    # whose overlap averages two estimates); the same as random noise of that size does
    assert np.abs(long.probs - whole.probs).max() < 5e-3
    assert [(round(e.start), round(e.stop)) for e in long.events] == [
        (round(e.start), round(e.stop)) for e in whole.events
    ]
    # a fixed scale: one pass over the file (no scan for statistics)
    assert set(long.timings) == {"read + preprocess", "model", "postprocess"}
    # the review page slices the lazy recording stretch by stretch
    report = write_report(
        tmp_path / "r.html",
        long.recording,
        long.probs,
        long.recording.sfreq,
        long.events,
        long.recording.events,
        threshold=0.5,
    )
    html = Path(report).read_text()
    data = page_data(html)
    assert len(long.events) >= 1 and len(data["events"]) == len(long.events)
    assert data["eeg"]["all_stored"] and data["unit"] == "SD"  # the normalised model input


def test_run_file_blockwise_exact_with_float64_filters(edf_500hz):
    from eegssm.detection import Detector

    detector = Detector.from_checkpoint()
    detector.preprocess_config = detector.preprocess_config.model_copy(
        update={"filter_dtype": "float64"}
    )
    whole = detector.run(read_recording(edf_500hz), threshold=0.5)
    long = detector.run_file(edf_500hz, threshold=0.5, block_s=200.0)
    # the inputs agree to ~1e-7; with the heat-kernel PE the model is continuous (but for
    # near-ties in its top-k edges), so the probabilities agree to round-off (7.8e-8 measured;
    # the eigenvector PE of earlier checkpoints moved them by up to 3e-3)
    assert np.abs(long.probs - whole.probs).max() < 1e-5


def test_write_synthetic_long_round_trip(tmp_path):
    from eegssm.io.annotations import read_csv_bi

    edf, csv = write_synthetic_long(tmp_path / "day", hours=540 / 3600, seed=4, piece_s=180)
    rec = read_recording(edf)
    assert rec.data.shape == (19, 540 * 256) and rec.sfreq == 256.0
    for index in range(3):
        piece = make_recording(180.0, sfreq=256.0, n_seizures=1, seed=4 + index)
        got = rec.data[:, index * 180 * 256 : (index + 1) * 180 * 256]
        assert np.abs(got - np.clip(piece.data, -3276.8, 3276.7)).max() <= 0.051  # 0.1 µV steps
    starts = [e.start for e in read_csv_bi(csv).events]
    assert len(starts) == 3 and all(s0 < s1 for s0, s1 in zip(starts, starts[1:]))


@pytest.mark.slow
def test_detect_command_on_hours_of_eeg_stays_under_2_gb(tmp_path):
    """`eegssm detect` on 4 hours (three blocks) in a fresh process: peak memory < 2 GB and the
    generated seizures found (benchmarks/detect_whole.py measures 24 hours)."""
    import json
    import os
    import subprocess
    import sys

    edf, _ = write_synthetic_long(tmp_path / "four_hours", hours=4.0, seed=11)
    cmd = [sys.executable, "-m", "eegssm.cli", "detect", str(edf), "--out", str(tmp_path), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, proc.stderr.read().decode()
    assert usage.ru_maxrss / 2**20 < 2.0  # KiB → GiB
    doc = json.loads((tmp_path / "four_hours.json").read_text())
    assert doc["duration_s"] == 4 * 3600 and "read + preprocess" in doc["timings_s"]
    assert doc["overlap_score"]["hits"] >= 3 and doc["overlap_score"]["targets"] == 4
