"""One training loop for every recipe (EEGM2 pretraining and fine-tuning, the seizure detector).

The recipe supplies the model, a loss function ``loss_fn(model, batch) -> scalar tensor``, an
iterable of batches (a ``DataLoader``; a sampler or batch sampler with ``set_epoch`` is re-seeded
each epoch) and optionally ``evaluate(model) -> {metric: value}``. The trainer owns the rest:

- AdamW with no weight decay on flagged SSM parameters, biases and norms (``optim.param_groups``);
  warm-up + cosine, one-cycle or constant learning rate; gradient clipping;
- mixed precision (bfloat16 autocast) on CUDA only;
- a NaN guard: a non-finite loss or gradient skips the step, is counted and logged, and
  ``NonFiniteError`` stops the run after ``max_bad_steps`` in a row;
- evaluation every ``eval_every`` steps, the best checkpoint kept, early stopping after
  ``patience`` evaluations without improvement;
- atomic checkpoints (``checkpoint.save_checkpoint``) in ``checkpoint_dir/last`` and
  ``checkpoint_dir/best``; ``fit(resume=True)`` continues from ``last`` (weights, optimizer,
  scheduler, RNG, step, position in the epoch);
- a tqdm progress bar, a JSON-lines log ``checkpoint_dir/train_log.jsonl`` and its plot
  ``checkpoint_dir/training_curve.png`` (loss and evaluation metrics, redrawn after every
  evaluation; :mod:`eegssm.train.curves`);
- data parallelism under ``torchrun`` when a process group is initialised
  (:mod:`eegssm.train.distributed`): the model is wrapped in DDP, skips are decided on all ranks
  together, rank 0 logs, evaluates and checkpoints (``self.model`` stays the unwrapped module).
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from eegssm.config.training import TrainConfig
from eegssm.train import distributed as dist_utils
from eegssm.train.checkpoint import CheckpointError, load_training_state, save_checkpoint
from eegssm.train.optim import param_groups


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's global and torch's RNGs: call it before building a model and its
    data order, so that a run is bit-reproducible on CPU for a given seed."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the global state that third-party code may use)
    torch.manual_seed(seed)


class NonFiniteError(RuntimeError):
    """Too many consecutive steps had a non-finite loss or gradient."""


@dataclass
class TrainResult:
    step: int
    epoch: int
    best_metric: float | None
    stopped_early: bool
    skipped_steps: int
    history: list[dict[str, Any]] = field(default_factory=list)


_END = object()


def _encode_rng(state: Tensor | None) -> str | None:
    """A torch RNG state (uint8 tensor) as base64 text for ``state.json``."""
    return None if state is None else base64.b64encode(state.numpy().tobytes()).decode("ascii")


def _decode_rng(text: str | None) -> Tensor | None:
    if not text:
        return None
    return torch.frombuffer(bytearray(base64.b64decode(text)), dtype=torch.uint8)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    """The learning-rate schedule as a ``LambdaLR`` / ``OneCycleLR`` stepped once per update."""
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=cfg.lr, total_steps=max(cfg.max_steps, 2)
        )
    if cfg.schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    if cfg.schedule != "cosine":
        raise ValueError(f"unknown schedule {cfg.schedule!r}: use cosine, onecycle or constant")
    warmup, total = max(cfg.warmup_steps, 0), max(cfg.max_steps, 1)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class Trainer:
    """Train ``model`` with ``loss_fn`` over ``batches``; see the module docstring.

    Args:
        model: the network (moved to ``config.device``).
        loss_fn: ``loss_fn(model, batch) -> scalar loss``; it moves the batch to the model's device.
        config: :class:`eegssm.config.TrainConfig` (importable from here too).
        evaluate: optional ``evaluate(model) -> dict`` called every ``eval_every`` steps (in
            ``eval`` mode, without gradients).
        model_config: JSON description saved with each checkpoint (to rebuild the model).
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[nn.Module, Any], Tensor],
        config: TrainConfig,
        evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
        model_config: dict[str, Any] | None = None,
    ) -> None:
        if config.mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {config.mode!r}")
        self.cfg = config
        self.device = torch.device(config.device)
        self.model = model.to(self.device)
        # under torchrun: the DDP wrapper used for training steps (the model itself otherwise)
        self.train_model = dist_utils.wrap_model(self.model, config.find_unused_parameters)
        self.is_main = dist_utils.is_main_process()
        self.loss_fn = loss_fn
        self.evaluate = evaluate
        self.model_config = model_config or {}
        self.optimizer = torch.optim.AdamW(
            param_groups(self.model, config.weight_decay), lr=config.lr
        )
        self.scheduler = make_scheduler(self.optimizer, config)
        self.ckpt_dir = Path(config.checkpoint_dir) if config.checkpoint_dir else None
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best: float | None = None
        self.evals_without_improvement = 0
        self.skipped = 0
        self.history: list[dict[str, Any]] = []
        # torch CPU RNG state when the current epoch's iterator was created (DataLoader draws its
        # worker base seed, RandomSampler its permutation, from the global RNG at that moment)
        self._epoch_rng: Tensor | None = None

    # -- checkpoints -------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best": self.best,
            "evals_without_improvement": self.evals_without_improvement,
            "skipped": self.skipped,
            "epoch_rng_state": _encode_rng(self._epoch_rng),
            "train_config": self.cfg.model_dump(),
        }

    def save(self, name: str) -> Path | None:
        """Write ``checkpoint_dir/name`` (no-op without a checkpoint_dir).

        Distributed: rank 0 writes, every rank waits at a barrier until the write is complete.
        """
        if self.ckpt_dir is None:
            return None
        dist_utils.barrier()
        if self.is_main:
            save_checkpoint(
                self.ckpt_dir / name,
                self.model,
                self.model_config,
                self._state(),
                self.optimizer,
                self.scheduler,
            )
        dist_utils.barrier()
        return self.ckpt_dir / name

    def resume(self) -> bool:
        """Load ``checkpoint_dir/last`` if it exists; returns whether it did.

        A run killed between the two renames of a checkpoint replacement leaves only
        ``last.old`` (the previous complete checkpoint); it is used then.
        """
        if self.ckpt_dir is None:
            return False
        folder = self.ckpt_dir / "last"
        if not folder.is_dir():
            folder = self.ckpt_dir / "last.old"
            if not folder.is_dir():
                return False
        state = load_training_state(folder, self.model, self.optimizer, self.scheduler)
        try:
            self.step, self.epoch = int(state["step"]), int(state["epoch"])
            self.batch_in_epoch = int(state["batch_in_epoch"])
            self.best = state["best"]
            self.evals_without_improvement = int(state["evals_without_improvement"])
            self.skipped = int(state["skipped"])
            self._epoch_rng = _decode_rng(state.get("epoch_rng_state"))
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(
                f"{folder / 'state.json'}: not a trainer state (bad or missing {err})"
            ) from err
        return True

    def _log(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        if self.ckpt_dir is not None and self.is_main:
            path = self.ckpt_dir / "train_log.jsonl"
            try:
                self.ckpt_dir.mkdir(parents=True, exist_ok=True)
                with open(path, "a") as f:
                    f.write(json.dumps(record) + "\n")
            except OSError as err:  # disk full, no permission: an error naming the file
                from eegssm.atomic import WriteError

                raise WriteError(err.errno, err.strerror or str(err), str(path)) from err

    def plot_curve(self) -> Path | None:
        """Redraw ``checkpoint_dir/training_curve.png`` from the log (rank 0; a plotting
        failure is logged, never fatal to training)."""
        if self.ckpt_dir is None or not self.is_main:
            return None
        log = self.ckpt_dir / "train_log.jsonl"
        if not log.is_file():
            return None
        try:
            from eegssm.train.curves import plot_training_curve

            best = {"metric": self.cfg.metric, "mode": self.cfg.mode} if self.cfg.metric else None
            return plot_training_curve(log, best=best)
        except Exception as err:  # a plot must never stop a training run
            import logging

            logging.getLogger(__name__).warning("training curve not drawn: %s", err)
            return None

    # -- one update --------------------------------------------------------------------------
    def _update(self, batch: Any) -> float | None:
        """One optimizer step; returns the loss, or None if the step was skipped (non-finite)."""
        self.train_model.train()
        use_amp = self.cfg.amp and self.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
            loss = self.loss_fn(self.train_model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        # distributed: the mean loss over ranks, non-finite if any rank's is (all ranks skip)
        global_loss = dist_utils.all_reduce_mean(loss.detach())
        if not torch.isfinite(global_loss):
            return None
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), self.cfg.grad_clip if self.cfg.grad_clip > 0 else math.inf
        )
        if not torch.isfinite(norm):
            self.optimizer.zero_grad(set_to_none=True)
            return None
        self.optimizer.step()
        self.scheduler.step()
        return float(global_loss)

    def _evaluate(self) -> bool:
        """Run evaluation; save ``best``; returns True when early stopping triggers."""
        if self.evaluate is None:
            return False
        self.model.eval()
        metrics = None
        if self.is_main:
            with torch.no_grad():
                metrics = self.evaluate(self.model)
        metrics = dist_utils.broadcast_object(metrics)  # same early-stopping decision everywhere
        self._log({"step": self.step, "eval": metrics})
        self.plot_curve()
        key = self.cfg.metric or next(iter(metrics))
        value = metrics[key]
        better = self.best is None or (
            value > self.best if self.cfg.mode == "max" else value < self.best
        )
        if better and math.isfinite(value):
            self.best = value
            self.evals_without_improvement = 0
            self.save("best")
        else:
            self.evals_without_improvement += 1
        patience = self.cfg.patience
        return patience is not None and self.evals_without_improvement >= patience

    # -- the loop ----------------------------------------------------------------------------
    def _epoch_batches(self, batches: Iterable) -> Iterable:
        """This epoch's iterator, created under the RNG state the epoch started with.

        Creating a ``DataLoader`` iterator (and fetching its first batch, when a ``RandomSampler``
        draws its seed) consumes the global torch RNG. After a mid-epoch resume the RNG is that of
        the checkpoint, so the iterator is created under the saved epoch-start state and the
        checkpoint's state is put back: the batches and every later random draw (dropout) are
        those of an uninterrupted run.
        """
        if self.batch_in_epoch == 0 or self._epoch_rng is None:
            self._epoch_rng = torch.get_rng_state()
            return batches
        current = torch.get_rng_state()
        torch.set_rng_state(self._epoch_rng)
        try:
            iterator = iter(batches)
            first = next(iterator, _END)
        finally:
            torch.set_rng_state(current)
        return iterator if first is _END else itertools.chain([first], iterator)

    def fit(self, batches: Iterable, resume: bool = False) -> TrainResult:
        """Train until ``max_steps`` updates or early stopping.

        Args:
            batches: re-iterable batches (e.g. a ``DataLoader``); iterated once per epoch.
            resume: continue from ``checkpoint_dir/last`` when it exists.
        """
        from tqdm.auto import tqdm

        torch.manual_seed(self.cfg.seed)
        if resume:
            self.resume()
        bad_in_a_row, stopped = 0, False
        bar = tqdm(
            total=self.cfg.max_steps,
            initial=self.step,
            desc="training",
            unit="step",
            disable=not self.cfg.progress or not self.is_main,
        )
        started = time.perf_counter()
        while self.step < self.cfg.max_steps and not stopped:
            # a sampler or batch sampler with set_epoch reorders each epoch (DataLoader attributes)
            for name in ("sampler", "batch_sampler"):
                sampler = getattr(batches, name, None)
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(self.epoch)
            n_batches = 0
            for i, batch in enumerate(self._epoch_batches(batches)):
                n_batches += 1
                if i < self.batch_in_epoch:  # resumed mid-epoch: skip what was consumed
                    continue
                loss = self._update(batch)
                self.batch_in_epoch = i + 1
                if loss is None:
                    self.skipped += 1
                    bad_in_a_row += 1
                    self._log({"step": self.step, "skipped": "non-finite loss or gradient"})
                    if bad_in_a_row >= self.cfg.max_bad_steps:
                        raise NonFiniteError(
                            f"{bad_in_a_row} steps in a row had a non-finite loss or gradient "
                            f"(step {self.step}). Check the inputs for NaN/inf, lower the "
                            f"learning rate (now {self.cfg.lr}) or the gradient clip."
                        )
                    continue
                bad_in_a_row = 0
                self.step += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}")
                if self.step % 10 == 0 or self.step == 1:
                    lr = self.optimizer.param_groups[0]["lr"]
                    elapsed = time.perf_counter() - started
                    self._log({"step": self.step, "loss": loss, "lr": lr, "seconds": elapsed})
                if self.cfg.eval_every and self.step % self.cfg.eval_every == 0:
                    stopped = self._evaluate()
                if self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0:
                    self.save("last")
                if self.step >= self.cfg.max_steps or stopped:
                    break
            else:
                self.epoch += 1
                self.batch_in_epoch = 0
            if n_batches == 0:
                raise ValueError("no training batches: the dataset or sampler is empty")
        bar.close()
        if (
            not stopped
            and self.evaluate is not None
            and (not self.cfg.eval_every or self.step % self.cfg.eval_every)
        ):
            self._evaluate()
        self.save("last")
        self.plot_curve()
        return TrainResult(
            self.step, self.epoch, self.best, stopped, self.skipped, list(self.history)
        )
