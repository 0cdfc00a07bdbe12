"""The shared trainer and crash-safe checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from eegssm.train import checkpoint as ckpt
from eegssm.train.checkpoint import CheckpointError, load_training_state, save_checkpoint
from eegssm.train.trainer import NonFiniteError, TrainConfig, Trainer


class EpochShuffle(Sampler):
    """Permutation seeded by (seed, epoch): the same order after a resume."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _data(n=64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1
    ds = TensorDataset(x, y)
    return DataLoader(ds, batch_size=8, sampler=EpochShuffle(n))


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 1))


def mse(model, batch):
    x, y = batch
    return (model(x).squeeze(-1) - y).square().mean()


def _cfg(tmp_path=None, **kw):
    base = dict(max_steps=40, lr=1e-2, warmup_steps=5, eval_every=0, progress=False)
    if tmp_path is not None:
        base["checkpoint_dir"] = str(tmp_path)
    base.update(kw)
    return TrainConfig(**base)


def test_training_reduces_loss(tmp_path):
    loader = _data()
    model = _model()
    before = sum(mse(model, b).item() for b in loader)
    result = Trainer(model, mse, _cfg(tmp_path, max_steps=80)).fit(loader)
    after = sum(mse(model, b).item() for b in loader)
    assert result.step == 80 and result.epoch == 9  # index of the epoch of the last batch
    assert after < 0.2 * before
    assert (tmp_path / "last" / "model.safetensors").is_file()
    assert (tmp_path / "train_log.jsonl").read_text().count("loss") >= 8


def test_resume_after_crash_gives_identical_weights(tmp_path):
    """Interrupted at step 13 (mid-epoch, last checkpoint at 10), resumed: same final weights."""
    loader = _data()
    reference = _model()
    Trainer(reference, mse, _cfg(tmp_path / "a", checkpoint_every=5)).fit(loader)

    calls = {"n": 0}

    def crashing(model, batch):
        calls["n"] += 1
        if calls["n"] == 14:
            raise KeyboardInterrupt("simulated kill")
        return mse(model, batch)

    with pytest.raises(KeyboardInterrupt):
        Trainer(_model(), crashing, _cfg(tmp_path / "b", checkpoint_every=5)).fit(loader)
    resumed_model = nn.Sequential(nn.Linear(4, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 1))
    trainer = Trainer(resumed_model, mse, _cfg(tmp_path / "b", checkpoint_every=5))
    result = trainer.fit(loader, resume=True)
    assert result.step == 40
    for a, b in zip(reference.state_dict().values(), resumed_model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_nan_guard_skips_then_stops(tmp_path):
    loader = _data()
    state = {"n": 0}

    def sometimes_nan(model, batch):
        state["n"] += 1
        loss = mse(model, batch)
        return loss * math.nan if state["n"] % 4 == 0 else loss

    model = _model()
    result = Trainer(model, sometimes_nan, _cfg(max_steps=12)).fit(loader)
    assert result.skipped_steps == 3 and result.step == 12
    assert all(torch.isfinite(p).all() for p in model.parameters())

    def always_nan(model, batch):
        return mse(model, batch) * math.inf

    with pytest.raises(NonFiniteError, match="5 steps in a row"):
        Trainer(_model(), always_nan, _cfg(max_bad_steps=5)).fit(loader)


def test_nan_gradient_is_skipped():
    loader = _data()

    def bad_grad(model, batch):
        x, y = batch
        out = model(x).squeeze(-1)
        return (out - y).square().mean() + 0.0 * torch.sqrt(out.sum() * 0.0 - 1.0).sum()

    with pytest.raises(NonFiniteError):
        Trainer(_model(), bad_grad, _cfg(max_bad_steps=3)).fit(loader)


def test_early_stopping_and_best_checkpoint(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.55, 0.9])

    def evaluate(model):
        return {"auroc": next(scores)}

    cfg = _cfg(tmp_path, max_steps=1000, eval_every=5, metric="auroc", patience=3)
    result = Trainer(_model(), mse, cfg, evaluate=evaluate).fit(_data())
    assert result.stopped_early and result.step == 25
    assert result.best_metric == 0.7
    assert ckpt.read_json(tmp_path / "best" / "state.json")["best"] == 0.7


def test_no_weight_decay_groups():
    from eegssm.nn import Mamba2

    trainer = Trainer(Mamba2(16, d_state=8, headdim=8), mse, _cfg())
    groups = trainer.optimizer.param_groups
    no_decay = next(g for g in groups if g["weight_decay"] == 0.0)
    assert {"A_log", "dt_bias", "D", "norm.weight", "conv1d.conv.bias"} <= set(no_decay["names"])


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    model = _model()
    save_checkpoint(tmp_path / "ck", model, {"v": 1}, {"step": 1})
    with torch.no_grad():
        model[0].weight.add_(1.0)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.atomic, "write_bytes", broken)  # the weights' write fails
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path / "ck", model, {"v": 2}, {"step": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck"]  # no temp folder left
    assert ckpt.read_json(tmp_path / "ck" / "state.json") == {"step": 1}
    restored = _model()
    load_training_state(tmp_path / "ck", restored)
    torch.testing.assert_close(restored[0].weight, _model()[0].weight)


def test_damaged_checkpoints_give_clear_errors(tmp_path):
    model = _model()
    opt = torch.optim.AdamW(model.parameters())
    save_checkpoint(tmp_path / "ck", model, {}, {"step": 0}, opt)
    weights = tmp_path / "ck" / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_training_state(tmp_path / "ck", _model())
    weights.write_bytes(data)
    (tmp_path / "ck" / "optimizer.pt").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="optimizer.pt"):
        load_training_state(tmp_path / "ck", _model(), torch.optim.AdamW(_model().parameters()))
    with pytest.raises(CheckpointError, match="do not fit"):
        load_training_state(tmp_path / "ck", nn.Linear(4, 1))
    with pytest.raises(CheckpointError, match="not found"):
        load_training_state(tmp_path / "missing", model)
