"""Distributed data-parallel training on CPU (gloo): 2 ranks equal 1 process on the global batch.

Each rank takes an interleaved half of the same balanced draw (``BalancedSampler(num_replicas=2,
rank=r)``) with a local batch of 4, the reference run takes the whole draw with a batch of 8; the
loss is a mean over the local batch and DDP averages gradients, so after N steps the weights match.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from eegssm.data.sampling import BalancedSampler
from eegssm.train import distributed as D
from eegssm.train.checkpoint import load_training_state
from eegssm.train.trainer import TrainConfig, Trainer

LOCAL_BATCH, WORLD, STEPS = 4, 2, 15
#: 8 partial, 8 full, 32 background windows: 48 drawn per epoch (6 global batches of 8).
CLASSES = np.array([1] * 8 + [2] * 8 + [0] * 32)
EVAL_SCORES = [0.5, 0.7, 0.6, 0.65, 0.55, 0.9]  # best at the 2nd evaluation, patience 2 stops


def _dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(len(CLASSES), 6, generator=g)
    y = x @ torch.linspace(-1.0, 1.0, 6) + torch.from_numpy(CLASSES).float()
    return TensorDataset(x, y)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 1))


def _loader(num_replicas: int, rank: int, batch: int) -> DataLoader:
    sampler = BalancedSampler(
        CLASSES, partial=1.0, full=1.0, background_ratio=2.0, seed=3,
        num_replicas=num_replicas, rank=rank,
    )  # fmt: skip
    return DataLoader(_dataset(), batch_size=batch, sampler=sampler)


def mse(model, batch):
    """Mean over the local batch: DDP's gradient average makes it the global-batch mean."""
    x, y = batch
    return (model(x).squeeze(-1) - y).square().mean()


def _nan_on_rank1_at_call_4():
    state = {"n": 0}

    def loss(model, batch):
        state["n"] += 1
        value = mse(model, batch)
        bad = state["n"] == 4 and D.get_rank() == 1
        return value * math.nan if bad else value

    return loss


def _cfg(ckpt: Path | None, **kw) -> TrainConfig:
    base = dict(
        max_steps=STEPS, lr=1e-2, warmup_steps=3, eval_every=0, grad_clip=0.5,
        checkpoint_every=5, progress=False, seed=0,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(checkpoint_dir=str(ckpt) if ckpt else None, **base)


def _run(num_replicas: int, rank: int, out: Path, job: str) -> dict:
    """One training job; returns what the test compares (weights, result, logged losses)."""
    loader = _loader(num_replicas, rank, LOCAL_BATCH * WORLD // num_replicas)
    model = _model()
    if job == "plain":
        result = Trainer(model, mse, _cfg(out / "plain")).fit(loader)
    elif job == "nan":
        result = Trainer(model, _nan_on_rank1_at_call_4(), _cfg(None)).fit(loader)
    else:  # early stopping on rank-0 evaluations
        scores = iter(EVAL_SCORES)
        cfg = _cfg(out / "eval", max_steps=100, eval_every=3, metric="auroc", patience=2)
        result = Trainer(model, mse, cfg, evaluate=lambda m: {"auroc": next(scores)}).fit(loader)
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "step": result.step,
        "skipped": result.skipped_steps,
        "stopped": result.stopped_early,
        "losses": [r["loss"] for r in result.history if "loss" in r],
    }


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    torch.set_num_threads(1)
    env = D.init_distributed(device="cpu", timeout_s=60)
    assert env.backend == "gloo" and env.world_size == WORLD and env.rank == rank
    assert D.sampler_kwargs(env) == {"num_replicas": WORLD, "rank": rank}
    results = {job: _run(WORLD, rank, Path(out), job) for job in ("plain", "nan", "eval")}
    torch.save(results, Path(out) / f"rank{rank}.pt")
    D.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    torch.multiprocessing.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    ranks = [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    single_dir = tmp_path_factory.mktemp("single")
    single = {job: _run(1, 0, single_dir, job) for job in ("plain", "nan", "eval")}
    return out, ranks, single


def _assert_same_weights(a: dict, b: dict, atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=atol, msg=k)


@pytest.mark.timeout(180)
def test_two_gloo_ranks_equal_one_process_on_the_global_batch(ddp_runs):
    out, ranks, single = ddp_runs
    for r in ranks:
        assert r["plain"]["step"] == STEPS
        _assert_same_weights(r["plain"]["state"], single["plain"]["state"])
    # the logged loss is the mean over the global batch
    np.testing.assert_allclose(ranks[0]["plain"]["losses"], single["plain"]["losses"], rtol=1e-5)
    # not a vacuous comparison: training moved the weights
    initial = _model().state_dict()["0.weight"]
    assert not torch.allclose(single["plain"]["state"]["0.weight"], initial)


def test_rank0_alone_checkpoints_and_logs(ddp_runs):
    out, ranks, single = ddp_runs
    ckpt = out / "plain"
    log = [json.loads(line) for line in (ckpt / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 10]  # once per step, not per rank
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "last",
        "train_log.jsonl",
        "training_curve.png",
    ]
    restored = _model()
    with torch.no_grad():
        for p in restored.parameters():
            p.zero_()
    state = load_training_state(ckpt / "last", restored)  # keys have no "module." prefix
    assert state["step"] == STEPS
    _assert_same_weights(restored.state_dict(), single["plain"]["state"])


def test_nan_on_one_rank_is_skipped_on_every_rank(ddp_runs):
    """Rank 1 alone sees a NaN loss at its 4th batch: both ranks skip the step (no hang)."""
    _, ranks, single = ddp_runs
    assert [r["nan"]["skipped"] for r in ranks] == [1, 1]
    assert single["nan"]["skipped"] == 0  # rank 1 does not exist in the single process run
    _assert_same_weights(ranks[0]["nan"]["state"], ranks[1]["nan"]["state"], atol=0)
    assert all(torch.isfinite(v).all() for v in ranks[0]["nan"]["state"].values())


def test_early_stopping_decided_on_rank0_and_shared(ddp_runs):
    out, ranks, single = ddp_runs
    assert [r["eval"]["stopped"] for r in ranks] == [True, True]
    assert [r["eval"]["step"] for r in ranks] == [single["eval"]["step"]] * 2 == [12, 12]
    assert (out / "eval" / "best" / "model.safetensors").is_file()


def test_single_process_environment_is_a_no_op(monkeypatch):
    for var in D.TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)
    env = D.init_distributed(device="cpu")
    assert (env.distributed, env.is_main, env.device) == (False, True, "cpu")
    model = nn.Linear(2, 1)
    assert D.wrap_model(model) is model and D.unwrap(model) is model
    assert D.sampler_kwargs() == {"num_replicas": 1, "rank": 0}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="MASTER_ADDR"):
        D.init_distributed(device="cpu")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(ValueError, match="outside WORLD_SIZE"):
        D.init_distributed(device="cpu")


TORCHRUN_SCRIPT = """
import sys, torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from eegssm.data.sampling import BalancedSampler
from eegssm.train import distributed as D
from eegssm.train.trainer import TrainConfig, Trainer

torch.set_num_threads(1)
env = D.init_distributed(device="cpu")
g = torch.Generator().manual_seed(0)
x = torch.randn(32, 3, generator=g)
ds = TensorDataset(x, x.sum(-1))
sampler = BalancedSampler([1] * 8 + [0] * 24, seed=0, **D.sampler_kwargs(env))
loader = DataLoader(ds, batch_size=4, sampler=sampler)
torch.manual_seed(0)
model = nn.Linear(3, 1)
loss = lambda m, b: (m(b[0]).squeeze(-1) - b[1]).square().mean()
cfg = TrainConfig(max_steps=6, lr=1e-2, warmup_steps=1, eval_every=0, progress=False,
                  checkpoint_dir=sys.argv[1], device=env.device)
Trainer(model, loss, cfg).fit(loader)
print(f"rank {env.rank}/{env.world_size} {env.backend} done", flush=True)
D.cleanup()
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_torchrun_standalone_two_processes(tmp_path):
    """The documented launcher: ``torchrun --standalone --nproc_per_node=2`` on CPU."""
    script = tmp_path / "train_ddp.py"
    script.write_text(textwrap.dedent(TORCHRUN_SCRIPT))
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node=2", str(script), str(tmp_path / "ck")],
        capture_output=True, text=True, timeout=280, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "rank 0/2 gloo done" in proc.stdout and "rank 1/2 gloo done" in proc.stdout
    assert (tmp_path / "ck" / "last" / "state.json").is_file()


# -- global batches split across ranks (EEGM2 recipes) -----------------------------------------


@pytest.mark.parametrize("n, batch, drop_last", [(17, 5, True), (12, 4, False), (7, 8, False)])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_sharded_batches_partition_every_global_batch(n, batch, drop_last, world):
    from torch.utils.data import BatchSampler

    from eegssm.recipes.eegm2 import EpochShuffle

    global_batches = list(BatchSampler(EpochShuffle(n, seed=3), batch, drop_last))
    shards = [
        list(D.ShardedBatchSampler(EpochShuffle(n, seed=3), batch, drop_last, world, r))
        for r in range(world)
    ]
    assert all(len(s) == len(global_batches) for s in shards)  # the ranks stay in lock-step
    for k, g in enumerate(global_batches):
        parts = [s[k] for s in shards]
        assert all(parts)  # no rank without data
        assert sorted(i for p in parts for i in p) == sorted(g)  # disjoint, covering
        for r, part in enumerate(parts):
            assert part == g[D.shard_rows(len(g), world, r)]
    if world == 1:
        assert shards[0] == global_batches


def test_sharded_batches_follow_the_epoch_and_refuse_empty_ranks():
    from eegssm.recipes.eegm2 import EpochShuffle

    s = D.ShardedBatchSampler(EpochShuffle(10, seed=0), 4, True, num_replicas=2, rank=1)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first and len(s) == 2
    s.set_epoch(0)
    assert list(s) == first
    with pytest.raises(ValueError, match="without data"):
        D.ShardedBatchSampler(range(9), 4, drop_last=False, num_replicas=2)  # tail of 1 item
    with pytest.raises(ValueError, match="smaller than"):
        D.ShardedBatchSampler(range(9), 1, num_replicas=2)
    with pytest.raises(ValueError, match="rank"):
        D.ShardedBatchSampler(range(9), 4, num_replicas=2, rank=2)
    assert D.shard_rows(7, 3, 1) == slice(1, 7, 3)
    assert D.global_mean_weight(3) == 1.0 and D.all_reduce_sum(3) == 3.0  # not distributed


@pytest.mark.parametrize("per_channel", [False, True])
def test_masks_of_a_shard_are_rows_of_the_global_batch_masks(per_channel):
    from eegssm.models.masking import mask_spans

    x = torch.randn(5, 3, 64)
    _, full = mask_spans(x, 8, 0.5, torch.Generator().manual_seed(0), per_channel)
    for r in range(2):
        rows = D.shard_rows(5, 2, r)
        xm, m = mask_spans(
            x[rows], 8, 0.5, torch.Generator().manual_seed(0), per_channel, of_batch=(5, rows)
        )
        assert torch.equal(m, full[rows])
        hidden = m if per_channel else m[:, None, :]
        assert torch.equal(xm, x[rows].masked_fill(hidden, 0.0))
    with pytest.raises(ValueError, match="rows"):
        mask_spans(x, 8, 0.5, of_batch=(5, D.shard_rows(5, 2, 0)))


def test_eegm2_loader_reshuffles_each_epoch_under_the_trainer():
    """The trainer calls ``set_epoch`` on a DataLoader's batch sampler (the EEGM2 loader)."""
    from eegssm.recipes.eegm2 import EpochShuffle, make_loader

    x = np.arange(8, dtype=np.float32)[:, None].repeat(2, axis=1)
    windows = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.zeros(8))
    loader = make_loader(windows, batch_size=4, seed=5)
    seen = []

    def loss(model, batch):
        seen.extend(batch[0][:, 0].long().tolist())
        return model(batch[0]).square().mean()

    Trainer(nn.Linear(2, 1), loss, _cfg(None, max_steps=6, checkpoint_every=0)).fit(loader)
    expected = []
    for epoch in range(3):
        order = EpochShuffle(8, seed=5)
        order.set_epoch(epoch)
        expected += list(order)
    assert seen == expected
