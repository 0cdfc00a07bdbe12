"""`eegssm detect` and the detection pipeline, on generated recordings and a small checkpoint."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
import torch

from eegssm.cli import main
from eegssm.data.synthetic import write_synthetic
from eegssm.detection import Detector, detect
from eegssm.io.annotations import read_bids_events, read_csv_bi
from eegssm.postprocess import PostprocessConfig

POINTS = [
    {"target_fa_per_24h": 10.0, "threshold": 0.6, "off_threshold": 0.52, "chosen_on": "dev"},
    {"target_fa_per_24h": 1.0, "threshold": 0.9, "off_threshold": 0.82, "chosen_on": "dev"},
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small untrained detector saved with the metadata `eegssm train` writes."""
    from eegssm.models.detector import SeizureDetector
    from eegssm.preprocessing.pipeline import get_preset

    folder = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    model = SeizureDetector.from_preset("fast", n_chans=19, n_times=15360)
    model.save_pretrained(folder)
    meta = json.loads((folder / "config.json").read_text())
    pre = get_preset("seizure", window_s=20.0, stride_s=10.0)
    meta.update(
        preset="fast",
        core="mamba2",
        preprocess={"preset": "seizure", "config": pre.model_dump()},
        window_s=20.0,
        stride_s=10.0,
        postprocess=asdict(PostprocessConfig()),
        operating_points=POINTS,
    )
    (folder / "config.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(scope="module")
def edf_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edf")
    write_synthetic(folder / "a" / "rec1", duration_s=70.0, n_seizures=1, seed=1,
                    seizure_duration_s=(15, 20), min_gap_s=5)  # fmt: skip
    write_synthetic(folder / "rec2", duration_s=45.0, n_seizures=0, seed=2)
    (folder / "rec2.csv_bi").unlink()  # one recording without annotations
    return folder


def test_operating_points_and_thresholds(checkpoint):
    det = Detector.from_checkpoint(checkpoint)
    assert det.postprocess_config().on_threshold == PostprocessConfig().on_threshold
    pp = det.postprocess_config(fa_per_24h=1.0)
    assert (pp.on_threshold, pp.off_threshold) == (0.9, 0.82)
    pp = det.postprocess_config(threshold=0.5)
    gap = PostprocessConfig().on_threshold - PostprocessConfig().off_threshold
    assert pp.on_threshold == 0.5 and pp.off_threshold == pytest.approx(0.5 - gap)
    with pytest.raises(ValueError, match=r"stored: \[1.0, 10.0\]"):
        det.postprocess_config(fa_per_24h=5.0)
    with pytest.raises(ValueError, match="either"):
        det.postprocess_config(threshold=0.5, fa_per_24h=1.0)
    with pytest.raises(FileNotFoundError, match="not a detector checkpoint"):
        Detector.from_checkpoint(checkpoint.parent)


def test_detect_api_probabilities_cover_recording(checkpoint, edf_folder):
    result = detect(edf_folder / "a" / "rec1.edf", checkpoint=checkpoint, threshold=0.5)
    rec = result.recording
    assert result.probs.shape == (rec.n_times,) and rec.sfreq == 256.0
    assert (
        np.isfinite(result.probs).all() and (0 <= result.probs).all() and (result.probs <= 1).all()
    )
    assert rec.n_channels == 19 and set(result.timings) == {
        "read",
        "preprocess",
        "model",
        "postprocess",
    }
    assert all(0 <= e.start < e.stop <= rec.duration + 1e-6 for e in result.events)


def test_detect_command_writes_outputs(checkpoint, edf_folder, tmp_path, capsys):
    out = tmp_path / "out"
    ckpt, report = str(checkpoint), str(tmp_path / "r.html")
    code = main(["detect", str(edf_folder), "--checkpoint", ckpt, "--out", str(out),
                 "--threshold", "0.5", "--quiet", "--report", report])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "rec1.edf" in printed and "rec2.edf" in printed
    for stem in ("rec1", "rec2"):
        doc = json.loads((out / f"{stem}.json").read_text())
        csv = read_csv_bi(out / f"{stem}.csv_bi")
        tsv = read_bids_events(out / f"{stem}_events.tsv")
        assert csv.duration == pytest.approx(doc["duration_s"], abs=1e-3)
        assert len(csv.seizures) == len(doc["events"]) == sum(e.label != "bckg" for e in tsv.events)
        assert (out / f"{stem}_report.html").is_file()  # several inputs: one report each
    assert "overlap_score" in json.loads((out / "rec1.json").read_text())  # has csv_bi
    assert "overlap_score" not in json.loads((out / "rec2.json").read_text())


def test_detect_command_errors(checkpoint, tmp_path, capsys):
    assert main(["detect", str(tmp_path / "missing.edf"), "--checkpoint", str(checkpoint)]) == 2
    assert "no such file" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["detect", str(tmp_path / "empty"), "--checkpoint", str(checkpoint)]) == 2
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"0       garbage header")
    code = main(["detect", str(bad), "--checkpoint", str(checkpoint), "--out", str(tmp_path)])
    assert code == 1 and "bad.edf" in capsys.readouterr().err
    assert main(["detect", "--checkpoint", str(checkpoint), "--fa-per-24h", "3"]) == 2


def test_background_load_gives_the_same_detections(checkpoint, edf_folder):
    """``from_checkpoint(background=True)`` returns before the model is loaded (PyTorch
    imports on a thread while the file is read and preprocessed): the same probabilities as a
    synchronous load, and the wait in the timings."""
    path = edf_folder / "a" / "rec1.edf"
    now = Detector.from_checkpoint(checkpoint).run_file(path, threshold=0.5)
    later = Detector.from_checkpoint(checkpoint, background=True)
    assert later.load_error() is None  # waits for the load
    result = later.run_file(path, threshold=0.5)
    assert np.array_equal(result.probs, now.probs) and result.events == now.events
    assert later.model.training is False and later.device == torch.device("cpu")
    fresh = Detector.from_checkpoint(checkpoint, background=True).run_file(path, threshold=0.5)
    assert "waiting for the model to load" in fresh.timings


def test_prepare_then_infer_is_run_file(checkpoint, edf_folder, monkeypatch):
    """``run_file(path, prepared=prepare_file(path))`` (how ``eegssm detect`` uses a file read
    in a child process) gives what ``run_file(path)`` does; a file too long to hold in memory
    has no ``prepare_file`` and goes block by block."""
    from eegssm.preprocessing import blockwise

    detector = Detector.from_checkpoint(checkpoint)
    path = edf_folder / "a" / "rec1.edf"
    whole = detector.run_file(path, threshold=0.5)
    prepared = detector.prepare_file(path)
    assert set(prepared.timings) == {"read", "preprocess"}
    again = detector.run_file(path, threshold=0.5, prepared=prepared)
    assert np.array_equal(again.probs, whole.probs) and again.events == whole.events
    assert np.array_equal(again.recording.data, whole.recording.data)
    need = 4 * prepared.clean.data.size  # the estimate from the header is exact here
    assert detector.prepare_file(path, max_bytes=need - 1) is None
    assert detector.prepare_file(path, max_bytes=need).clean.data.nbytes == need
    monkeypatch.setattr(blockwise, "IN_MEMORY_BYTES", 0)
    assert detector.prepare_file(path) is None
    blocks = detector.run_file(path, threshold=0.5)
    np.testing.assert_allclose(blocks.probs, whole.probs, atol=1e-4)


def test_detect_command_reads_its_first_file_in_a_child_process(checkpoint, edf_folder, tmp_path):
    """A fresh ``eegssm detect`` (PyTorch not yet imported) on Linux that needs PyTorch (here:
    the C kernels, and so the engine, turned off) reads and preprocesses the first file in a
    forked child while it loads the model: the same outputs as in-process (PyTorch imported
    first: no child); a damaged first file is then read again here and reported as always,
    and the others are still analysed. With the engine (the default), no child and no
    PyTorch, and the same outputs."""
    import os
    import subprocess
    import sys

    if sys.platform != "linux":
        pytest.skip("eegssm forks on Linux only")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_damaged.edf").write_bytes(b"0       garbage header")
    (folder / "rec1.edf").write_bytes((edf_folder / "a" / "rec1.edf").read_bytes())

    def detect(out, pre="", failed=1, **env):
        code = (
            f"{pre}import sys; from eegssm.cli import main; sys.exit(main(["
            f"'detect', {str(folder)!r}, '--checkpoint', {str(checkpoint)!r}, "
            f"'--out', {str(out)!r}, '--threshold', '0.5', '-q']))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env}
        )
        assert done.returncode == failed, done.stderr
        assert ("a_damaged.edf" in done.stderr) == bool(failed)
        assert (out / "rec1.csv_bi").is_file() and not (out / "a_damaged.json").exists()
        doc = json.loads((out / "rec1.json").read_text())
        return doc, (out / "rec1.csv_bi").read_text()

    outputs = {}
    for how, pre in (("child", ""), ("in-process", "import torch; ")):
        doc, csv_bi = detect(tmp_path / how, pre, EEGSSM_DISABLE_KERNELS="1")
        assert doc["runtime"] == "pytorch"
        outputs[how] = (doc["events"], csv_bi, doc["timings_s"])
    key = "waiting for the child process (read + preprocess)"
    assert outputs["child"][:2] == outputs["in-process"][:2]
    assert key not in outputs["in-process"][2]

    doc, csv_bi = detect(tmp_path / "engine")
    folder.joinpath("a_damaged.edf").unlink()  # now the child reads the good file
    first, first_csv = detect(tmp_path / "first", failed=0, EEGSSM_DISABLE_KERNELS="1")
    assert key in first["timings_s"] and first["events"] == outputs["in-process"][0]
    assert first_csv == outputs["in-process"][1]
    assert doc["runtime"] == "eegssm.engine" and key not in doc["timings_s"]
    torch_events = outputs["in-process"][0]
    assert [(e["onset"], e["offset"]) for e in doc["events"]] == [
        (e["onset"], e["offset"]) for e in torch_events
    ]  # and the same confidences, to float32 round-off
    assert [e["confidence"] for e in doc["events"]] == pytest.approx(
        [e["confidence"] for e in torch_events], abs=1e-5
    )
    assert csv_bi == outputs["in-process"][1]


def _unloadable(checkpoint, tmp_path):
    """A copy of ``checkpoint`` whose config describes a wider model than its weights."""
    bad = tmp_path / "bad_ckpt"
    bad.mkdir()
    (bad / "model.safetensors").write_bytes((checkpoint / "model.safetensors").read_bytes())
    meta = json.loads((checkpoint / "config.json").read_text())
    meta["config"]["d_node"] = 2 * meta["config"]["d_node"]
    (bad / "config.json").write_text(json.dumps(meta))
    return bad


def test_background_load_error_is_raised_on_first_use(checkpoint, tmp_path):
    from eegssm.train.checkpoint import CheckpointError

    detector = Detector.from_checkpoint(_unloadable(checkpoint, tmp_path), background=True)
    assert isinstance(detector.load_error(), CheckpointError)
    with pytest.raises(CheckpointError, match="config.json"):
        detector.model  # noqa: B018


def test_detect_command_reports_an_unloadable_checkpoint_once(
    checkpoint, edf_folder, tmp_path, capsys
):
    """The model loads while the first file is preprocessed; when it cannot load, the command
    stops with status 2 and the checkpoint's error (not a failure per file), with or without
    inputs."""
    bad = str(_unloadable(checkpoint, tmp_path))
    out = tmp_path / "out"
    assert main(["detect", str(edf_folder), "--checkpoint", bad, "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "config.json" in err and not out.exists()
    assert main(["detect", "--checkpoint", bad, "--out", str(out), "-q"]) == 2  # the demo
    assert "config.json" in capsys.readouterr().err


@pytest.mark.parametrize(
    "text, message", [("{not json", "not valid JSON"), ("[1, 2]", "must be an object")]
)
def test_detect_command_names_a_config_it_cannot_read(edf_folder, tmp_path, capsys, text, message):
    """A config.json that is not a JSON object is reported as before the background load: the
    validating load runs at once and names the file."""
    bad = tmp_path / "ckpt"
    bad.mkdir()
    (bad / "config.json").write_text(text)
    args = ["detect", str(edf_folder), "--checkpoint", str(bad), "--out", str(tmp_path / "o")]
    assert main([*args, "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "config.json" in err


def test_detect_command_reports_any_model_load_error(
    checkpoint, edf_folder, tmp_path, monkeypatch, capsys
):
    """A load that fails with another error than a bad config (an optional kernel package
    missing, say) also stops the command with status 2 and that error. (The PyTorch model is
    what loads: the C kernels, and so the PyTorch-free engine, are turned off here.)"""
    import eegssm.detection

    def fail(path, device):
        raise ImportError("kernels for cuda:7 are not installed")

    monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", "1")
    monkeypatch.setattr(eegssm.detection, "_load_model", fail)
    args = ["detect", str(edf_folder), "--checkpoint", str(checkpoint), "--out", str(tmp_path)]
    assert main([*args, "-q"]) == 2
    assert "error: kernels for cuda:7 are not installed" in capsys.readouterr().err


def test_cli_imports_only_the_command_it_runs():
    """``eegssm detect ...`` builds a parser with ``detect`` alone (the other command modules,
    e.g. ``train``, stay unimported: faster start-up); ``eegssm --help`` lists them all."""
    import subprocess
    import sys

    code = (
        "import contextlib, io, sys\n"
        "from eegssm import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        cli.main(sys.argv[1:])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('eegssm.commands.')))\n"
        "print('train' in out.getvalue())\n"
    )
    run = [sys.executable, "-c", code]
    lines = subprocess.run(run + ["detect", "--help"], capture_output=True, text=True, check=True)
    mods, _ = lines.stdout.strip().splitlines()
    assert "eegssm.commands.detect" in mods and "eegssm.commands.train" not in mods
    lines = subprocess.run(run + ["--help"], capture_output=True, text=True, check=True)
    mods, listed = lines.stdout.strip().splitlines()
    assert "eegssm.commands.train" in mods and listed == "True"


def test_console_entry_exits_fast_after_what_a_normal_exit_does_first(tmp_path):
    """``eegssm`` (``cli.run``) skips the interpreter's teardown, not what comes before it:
    a non-daemon thread still finishes its file, ``atexit`` handlers run, buffered stdout is
    flushed, and the command's return code is the exit status."""
    import subprocess
    import sys

    code = f"""
import atexit, pathlib, sys, threading, time
from eegssm import cli
folder = pathlib.Path({str(tmp_path)!r})
def late_write():
    time.sleep(0.3)
    (folder / "thread.txt").write_text("done")
def fake_main():
    threading.Thread(target=late_write).start()
    atexit.register(lambda: (folder / "atexit.txt").write_text("done"))
    sys.stdout.write("buffered, no newline")
    return 3
cli.main = fake_main
cli.run()
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "buffered, no newline"
    assert (tmp_path / "thread.txt").read_text() == (tmp_path / "atexit.txt").read_text() == "done"


def test_detect_command_pauses_the_collector_only_until_the_model_is_loaded(
    checkpoint, edf_folder, tmp_path, monkeypatch
):
    """``eegssm detect`` keeps the garbage collector paused (``cli.pause_gc``) while its
    PyTorch model loads on a thread (the engine turned off), and resumes it before the model
    runs; with the engine nothing loads and the collector runs."""
    import gc

    from eegssm import cli, detection

    seen = {}
    load, run_file = detection._load_model, Detector.run_file

    def spy_load(*args):
        seen["loading"] = gc.isenabled()
        return load(*args)

    def spy_run(self, *args, **kwargs):
        seen.setdefault("running", gc.isenabled())
        return run_file(self, *args, **kwargs)

    monkeypatch.setattr(detection, "_load_model", spy_load)
    monkeypatch.setattr(Detector, "run_file", spy_run)
    was = gc.isenabled()
    args = ["detect", str(edf_folder), "--checkpoint", str(checkpoint), "--out"]
    try:
        for kernels, expected in (
            ("0", {"running": True}),
            ("1", {"loading": False, "running": True}),
        ):
            monkeypatch.setenv("EEGSSM_DISABLE_KERNELS", kernels)
            seen.clear()
            gc.enable()
            cli.pause_gc()
            assert main([*args, str(tmp_path / kernels), "-q"]) == 0
            assert seen == expected and gc.isenabled()
    finally:
        cli.resume_gc()
        gc.unfreeze()
        gc.enable() if was else gc.disable()
