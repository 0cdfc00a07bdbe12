"""kill -9 at random moments: training resumes to the same weights, the cache build completes
to the same manifest and arrays; damaged checkpoints give a ``CheckpointError`` naming the file.

The in-process crash simulations (an exception at a chosen commit) live in ``test_train.py`` and
``test_data_cache.py``; here the runs are real subprocesses killed with SIGKILL, so nothing gets
to clean up (no ``finally``, no ``atexit``, no buffered writes flushed).
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from eegssm.data.cache import build_cache
from eegssm.data.manifest import MANIFEST_NAME, Manifest
from eegssm.data.synthetic import write_synthetic
from eegssm.train.checkpoint import CheckpointError, load_training_state, save_checkpoint
from eegssm.train.trainer import TrainConfig, Trainer

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}

# -- training ------------------------------------------------------------------------------------

TRAIN_JOB = """
import sys, time, torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from eegssm.data.sampling import BalancedSampler
from eegssm.train.trainer import TrainConfig, Trainer

torch.set_num_threads(1)
ckpt, resume, delay = sys.argv[1], sys.argv[2] == "resume", float(sys.argv[3])
g = torch.Generator().manual_seed(0)
x = torch.randn(48, 6, generator=g)
classes = [1] * 8 + [2] * 8 + [0] * 32
ds = TensorDataset(x, x @ torch.linspace(-1, 1, 6) + torch.tensor(classes).float())
loader = DataLoader(ds, batch_size=8, sampler=BalancedSampler(classes, full=1.0, seed=1))
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(6, 16), nn.Dropout(0.1), nn.Tanh(), nn.Linear(16, 1))

def loss(m, b):
    time.sleep(delay)  # slow enough to be killed mid-epoch
    return (m(b[0]).squeeze(-1) - b[1]).square().mean()

cfg = TrainConfig(max_steps=30, lr=1e-2, warmup_steps=4, eval_every=0, checkpoint_every=4,
                  checkpoint_dir=ckpt, progress=False, seed=0)
Trainer(model, loss, cfg).fit(loader, resume=resume)
print("finished", flush=True)
"""


def _train(tmp_path: Path, ckpt: Path, mode: str, delay: float) -> subprocess.Popen:
    script = tmp_path / "train_job.py"
    if not script.exists():
        script.write_text(textwrap.dedent(TRAIN_JOB))
    cmd = [sys.executable, str(script), str(ckpt), mode, str(delay)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"job ended early: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("timed out waiting for the job")
        time.sleep(0.01)


def _step(ckpt: Path) -> int:
    try:
        return json.loads((ckpt / "last" / "state.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return -1


@pytest.mark.timeout(240)
def test_training_killed_mid_epoch_resumes_to_identical_weights(tmp_path):
    """SIGKILL after the step-8 checkpoint (6 batches per epoch: mid-epoch), resume, finish."""
    ref = _train(tmp_path, tmp_path / "ref", "fresh", 0.0)
    victim = _train(tmp_path, tmp_path / "run", "fresh", 0.1)
    _wait_for(lambda: _step(tmp_path / "run") >= 8, victim)
    time.sleep(0.15)  # between two checkpoints (4 steps apart)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(30) == -signal.SIGKILL
    killed_at = _step(tmp_path / "run")
    assert 8 <= killed_at < 30, f"checkpoint at step {killed_at}"

    resumed = _train(tmp_path, tmp_path / "run", "resume", 0.0)
    for proc in (ref, resumed):
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0 and b"finished" in out, err.decode()[-2000:]
    a = load_file(tmp_path / "ref" / "last" / "model.safetensors")
    b = load_file(tmp_path / "run" / "last" / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:  # dropout, the sampler and AdamW all resumed exactly
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)
    assert _step(tmp_path / "run") == 30
    log = (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in log)  # no torn line


def _tiny_trainer(ckpt: Path, **kw) -> Trainer:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    cfg = dict(max_steps=6, lr=1e-2, warmup_steps=1, eval_every=0, checkpoint_every=2)
    cfg.update(kw)
    return Trainer(
        model,
        lambda m, b: m(b[0]).square().mean(),
        TrainConfig(checkpoint_dir=str(ckpt), progress=False, **cfg),
    )


def _batches():
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(4, 3, generator=g),) for _ in range(3)]


def test_kill_between_the_two_renames_resumes_from_the_previous_checkpoint(tmp_path):
    """A kill after ``last`` → ``last.old`` but before ``last.tmp-*`` → ``last``."""
    first = _tiny_trainer(tmp_path, max_steps=4)
    first.fit(_batches())
    os.replace(tmp_path / "last", tmp_path / "last.old")
    again = _tiny_trainer(tmp_path)
    assert again.resume() and again.step == 4
    assert again.fit(_batches(), resume=True).step == 6


@pytest.mark.parametrize(
    "damage, match",
    [
        ("state-garbage", r"state\.json: not valid JSON"),
        ("state-truncated", r"state\.json: not valid JSON"),
        ("state-not-trainer", r"state\.json: not a trainer state"),
        ("weights-header", r"model\.safetensors: not a readable safetensors file"),
        ("weights-length", r"model\.safetensors: not a readable safetensors file"),
        ("weights-shape", r"model\.safetensors"),
        ("optimizer-truncated", r"optimizer\.pt: unreadable optimizer state"),
        ("optimizer-pickle", r"optimizer\.pt: unreadable optimizer state"),
        ("optimizer-missing", r"optimizer\.pt: optimizer state not found"),
    ],
)
def test_damaged_last_checkpoint_stops_resume_with_a_named_error(tmp_path, damage, match):
    """``fit(resume=True)`` on a damaged ``last`` refuses (never silently restarts from 0)."""
    _tiny_trainer(tmp_path).fit(_batches())
    last = tmp_path / "last"
    state, weights, opt = last / "state.json", last / "model.safetensors", last / "optimizer.pt"
    marker = tmp_path / "pwned"
    if damage == "state-garbage":
        state.write_bytes(b"\x00\xff{")
    elif damage == "state-truncated":
        state.write_text(state.read_text()[:20])
    elif damage == "state-not-trainer":
        state.write_text('{"step": "many"}')
    elif damage == "weights-header":
        data = bytearray(weights.read_bytes())
        data[8:12] = b"!!!!"  # the JSON header of safetensors
        weights.write_bytes(bytes(data))
    elif damage == "weights-length":
        data = bytearray(weights.read_bytes())
        data[:8] = (10**15).to_bytes(8, "little")  # header size larger than the file
        weights.write_bytes(bytes(data))
    elif damage == "weights-shape":
        tensors = load_file(weights)
        key = next(iter(tensors))
        tensors[key] = torch.zeros(7, 7)
        from safetensors.torch import save_file

        save_file(tensors, str(weights))
    elif damage == "optimizer-truncated":
        opt.write_bytes(opt.read_bytes()[: opt.stat().st_size // 2])
    elif damage == "optimizer-pickle":

        class Evil:
            def __reduce__(self):
                return (Path.touch, (marker,))

        opt.write_bytes(pickle.dumps({"optimizer": Evil()}))
    elif damage == "optimizer-missing":
        opt.unlink()
    with pytest.raises(CheckpointError, match=match):
        _tiny_trainer(tmp_path).fit(_batches(), resume=True)
    assert not marker.exists(), "the tampered pickle was executed"


def test_checkpoint_roundtrip_is_exact(tmp_path):
    """Control for the damage tests: the undamaged folder loads and gives the same weights."""
    trainer = _tiny_trainer(tmp_path)
    trainer.fit(_batches())
    other = _tiny_trainer(tmp_path / "x")
    state = load_training_state(tmp_path / "last", other.model, other.optimizer, other.scheduler)
    assert state["step"] == 6
    for a, b in zip(trainer.model.state_dict().values(), other.model.state_dict().values()):
        assert torch.equal(a, b)
    save_checkpoint(tmp_path / "copy", other.model, {}, state)
    assert json.loads((tmp_path / "copy" / "state.json").read_text())["step"] == 6


# -- cache builder -------------------------------------------------------------------------------

BUILD_JOB = """
import sys
import mne, scipy.signal  # noqa: F401  (imported before "ready": kill moments hit the build)
import eegssm.io, eegssm.preprocessing.pipeline  # noqa: F401
from eegssm.data.cache import build_cache

print("ready", flush=True)
build_cache(sys.argv[1], sys.argv[2], workers=1, progress=False)
print("done", flush=True)
"""


def _corpus(root: Path) -> Path:
    for i, (duration, n) in enumerate([(70, 1), (60, 0), (90, 1), (40, 0)]):
        write_synthetic(
            root / f"sub{i}" / f"rec{i}", duration_s=duration, n_seizures=n, seed=i,
            seizure_duration_s=(10.0, 20.0), min_gap_s=5.0,
        )  # fmt: skip
    return root


@pytest.fixture(scope="module")
def corpus_and_reference(tmp_path_factory):
    data = _corpus(tmp_path_factory.mktemp("corpus"))
    ref = tmp_path_factory.mktemp("ref")
    t0 = time.perf_counter()
    report = build_cache(data, ref, workers=1, progress=False)
    assert len(report.built) == 4 and not report.failed
    return data, ref, time.perf_counter() - t0


def _killed_build(script: Path, data: Path, cache: Path, delay: float) -> dict:
    """Start a build, SIGKILL it ``delay`` s after its imports; what it left behind."""
    proc = subprocess.Popen(
        [sys.executable, str(script), str(data), str(cache)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        assert line == b"ready\n", proc.stderr.read().decode()[-2000:]
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        rc = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    fragments = list((cache / "entries").glob("*.json")) if (cache / "entries").is_dir() else []
    return {
        "delay": round(delay, 3),
        "killed": rc == -signal.SIGKILL,
        "fragments": len(fragments),
        "temporaries": len(list(cache.rglob("*.tmp"))),
    }


def _assert_complete_and_equal(cache: Path, ref: Path) -> None:
    assert not list(cache.rglob("*.tmp"))
    ours, theirs = Manifest.load(cache), Manifest.load(ref)
    assert not ours.failed and len(ours.recordings) == 4
    assert ours.recordings == theirs.recordings  # every field, sizes and classes included
    for entry in ours.recordings:
        for name in ("signal", "labels"):
            path = cache / entry["files"][name]
            assert path.stat().st_size == entry["file_sizes"][name]
            assert path.read_bytes() == (ref / entry["files"][name]).read_bytes()
        x = np.load(cache / entry["files"]["signal"], mmap_mode="r")
        assert x.shape == (entry["n_channels"], entry["n_times"])
    manifest = json.loads((cache / MANIFEST_NAME).read_text())
    for key in ("format_version", "preset_hash", "config", "data_dir"):
        assert manifest[key] == theirs.header[key]


def _kill_repeatedly(tmp_path: Path, corpus_and_reference, n_kills: int, seed: int) -> list:
    data, ref, seconds = corpus_and_reference
    script = tmp_path / "build_job.py"
    script.write_text(textwrap.dedent(BUILD_JOB))
    cache = tmp_path / f"cache{seed}"
    rng = np.random.default_rng(seed)
    # stratified random moments over the length of a full build (imports excluded), earliest
    # first: later runs skip what earlier ones committed, so late kills often find little to do
    delays = [seconds * (i + rng.uniform()) / n_kills for i in range(n_kills)]
    outcomes = [_killed_build(script, data, cache, d) for d in delays]
    report = build_cache(data, cache, workers=1, progress=False)  # re-run to completion
    assert not report.failed, report.failed
    _assert_complete_and_equal(cache, ref)
    return outcomes


@pytest.mark.timeout(300)
def test_cache_build_survives_sigkill_at_random_moments(tmp_path, corpus_and_reference):
    outcomes = _kill_repeatedly(tmp_path, corpus_and_reference, n_kills=3, seed=8)
    # not vacuous: at least one kill interrupted the build before it had every entry
    assert any(o["killed"] and o["fragments"] < 4 for o in outcomes), outcomes


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_cache_build_survives_many_sigkills(tmp_path, corpus_and_reference):
    """8 rounds of 3 kills, each round re-run to completion and compared (24 kills)."""
    rounds = [_kill_repeatedly(tmp_path, corpus_and_reference, 3, seed) for seed in range(8)]
    interrupted = [sum(o["killed"] and o["fragments"] < 4 for o in r) for r in rounds]
    print("kills that interrupted a build, per round:", interrupted)
    assert sum(n > 0 for n in interrupted) >= 6, rounds
