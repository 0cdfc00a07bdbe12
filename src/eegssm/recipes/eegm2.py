"""EEGM2 recipes: reconstruction pretraining and classification fine-tuning on real EEG.

Data flow (the recipes orchestrate; windows come from the one data layer)::

    EDF ──build_cache("eegm2": ref19 montage, 128 Hz; p95 scaling per recording as statistics)──▶
        cache ──WindowDataset(window_s, stride_s, target="recording", complete windows only)──▶
        ──pretrain──▶ EEGM2 (TemporalSpectralLoss, optionally masked)   ─┐ checkpoint folder
        ──finetune──▶ EEGM2Light / EEGM2Fine / LinearProbe / EEGNet    ─┘ (safetensors + JSON)

``pretrain`` and ``finetune`` take any window dataset of :mod:`eegssm.data.dataset`
(:class:`~eegssm.data.WindowDataset` over a cache, or :class:`~eegssm.data.ArrayWindows` for
windows already in memory) and read it in batches through a DataLoader, so the corpus need not fit
in memory.

Under ``torchrun`` (docs/distributed.md) ``train.batch_size`` stays the global batch: each rank
loads an interleaved shard of every global batch, masks are drawn for the whole global batch and the
losses are weighted so that DDP's gradient average equals one process on the global batch.

Normalisation is per recording (rest and task recordings of eegmat differ in raw amplitude, so a
global scale lets a classifier recognise the recording, not the state). Only fully valid windows are
kept (no zero padding at the end of a recording). Splits are always by subject.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from eegssm.config import (
    EEGM2DataConfig,
    EEGM2ModelConfig,
    EEGM2TrainingConfig,
    FinetuneConfig,
    MaskConfig,
    PretrainConfig,
    ReconstructionLossConfig,
)
from eegssm.models.eegm2 import EEGM2
from eegssm.train import distributed as D

log = logging.getLogger(__name__)

# -- data --------------------------------------------------------------------------------------


def prepare_windows(data: EEGM2DataConfig, cache_dir: str | Path, progress: bool = False) -> Any:
    """Build or refresh the ``eegm2`` cache of ``data.data_dir`` in ``cache_dir`` (recordings
    already cached are skipped) and return its windows: a
    :class:`~eegssm.data.WindowDataset` of complete ``data.window_s`` windows, one class per
    recording from ``data.labels`` (``-1`` when unlabelled), subjects from
    ``data.subject_regex``.

    Under ``torchrun``, rank 0 builds while the others wait.

    Raises:
        FileNotFoundError: no recording matching ``data.pattern`` under ``data.data_dir``.
        ValueError: every recording is shorter than one window.
    """
    from eegssm.data import WindowDataset, build_cache

    root = Path(data.data_dir)
    missing = FileNotFoundError(
        f"no recordings matching {data.pattern!r} under {root} (--data-dir)"
    )
    if not root.is_dir():
        raise missing
    if D.is_main_process():
        report = build_cache(
            root, cache_dir, "eegm2", overrides={"sfreq": data.sfreq}, workers=1,
            progress=progress, pattern=data.pattern, limit=data.max_recordings,
        )  # fmt: skip
        if report.failed:
            log.warning("%d recordings failed to cache: %s", len(report.failed), report.failed[:3])
        if report.n_found == 0:
            raise missing
    D.barrier()
    windows = WindowDataset(
        cache_dir, data.window_s, data.stride_s or data.window_s, target="recording",
        labels=data.labels, subject_regex=data.subject_regex, pad_end=False,
    )  # fmt: skip
    if not len(windows):
        raise ValueError(f"every recording is shorter than one {data.window_s} s window")
    return windows


def subject_folds(subjects: Sequence[str], n_folds: int, seed: int = 0) -> list[list[str]]:
    """Split subjects into ``n_folds`` disjoint test groups (sizes differ by at most one).

    Returns one sorted subject list per fold; together they cover every subject exactly once.
    """
    uniq = sorted(set(subjects))
    if not 2 <= n_folds <= len(uniq):
        raise ValueError(f"n_folds must be in [2, {len(uniq)}] for {len(uniq)} subjects")
    order = [uniq[i] for i in np.random.default_rng(seed).permutation(len(uniq))]
    return [sorted(order[k::n_folds]) for k in range(n_folds)]


class EpochShuffle(Sampler[int]):
    """Shuffled order that depends only on ``(seed, epoch)``: resuming mid-epoch is exact."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self) -> int:
        return self.n


def make_loader(windows: Dataset, batch_size: int, seed: int, num_workers: int = 0) -> DataLoader:
    """Shuffled batches ``(x, y)`` of a window dataset; the last incomplete batch is dropped if
    possible.

    ``batch_size`` is the global batch. Under ``torchrun`` each rank loads its interleaved shard of
    every global batch (:class:`~eegssm.train.distributed.ShardedBatchSampler`); a plain run loads
    whole batches.
    """
    drop_last = len(windows) > batch_size
    sampler = D.ShardedBatchSampler(
        EpochShuffle(len(windows), seed), batch_size, drop_last, **D.sampler_kwargs()
    )
    return DataLoader(windows, batch_sampler=sampler, num_workers=num_workers)


def batches(windows: Dataset | np.ndarray, batch_size: int) -> Iterator[Tensor]:
    """The windows ``x (B, C, W)`` of a dataset (or an ``(N, C, W)`` array) in order,
    ``batch_size`` at a time."""
    if isinstance(windows, np.ndarray):
        for i in range(0, len(windows), batch_size):
            yield torch.from_numpy(windows[i : i + batch_size])
        return
    for batch in DataLoader(windows, batch_size=batch_size, shuffle=False):
        yield batch[0]


# -- models ------------------------------------------------------------------------------------


def build_eegm2(cfg: EEGM2ModelConfig, n_chans: int, sfreq: float | None = None) -> EEGM2:
    """EEGM2 of the configured preset and ablations."""
    return EEGM2.from_preset(
        cfg.preset, n_chans=n_chans, sfreq=sfreq, multi_branch=cfg.multi_branch, core=cfg.core
    )


def _train_config(
    opt: EEGM2TrainingConfig, out: str | Path | None, device: str, progress: bool, **kw
):
    """The trainer's settings: the recipe's ``train`` section (batch size aside) plus run-time
    ones (``kw``: metric, mode, ...)."""
    from eegssm.config import TrainConfig

    return TrainConfig(
        **opt.model_dump(exclude={"batch_size"}),
        checkpoint_dir=None if out is None else str(out),
        device=device,
        progress=progress,
        **kw,
    )


def checkpoint_folder(path: str | Path) -> Path:
    """Checkpoint folder: ``path`` if it holds weights, else ``path/best``, else ``path/last``."""
    path = Path(path)
    for cand in (path, path / "best", path / "last"):
        if (cand / "model.safetensors").is_file():
            return cand
    raise FileNotFoundError(f"{path}: no checkpoint (model.safetensors) here or in best/, last/")


def load_pretrained(path: str | Path) -> EEGM2:
    """Rebuild and load the EEGM2 of a pretraining checkpoint (its ``config.json``)."""
    from eegssm.models.checkpoint_meta import check_eegm2_meta, check_weights_fit
    from eegssm.train.checkpoint import load_weights, read_json

    folder = checkpoint_folder(path)
    meta = read_json(folder / "config.json")
    check_eegm2_meta(meta, folder / "config.json")  # types and ranges, before building

    def build() -> EEGM2:
        return build_eegm2(EEGM2ModelConfig(**meta["model"]), meta["n_chans"], meta.get("sfreq"))

    check_weights_fit(build, folder / "model.safetensors", folder / "config.json")
    model = build()
    load_weights(folder / "model.safetensors", model)
    return model


# -- pretraining -------------------------------------------------------------------------------


class ReconstructionObjective:
    """``loss_fn(model, batch)`` for the Trainer: (masked) temporal–spectral reconstruction.

    With masking, spans of ``span_s`` seconds are hidden (filled with 0, the signal's centre) and
    the temporal term covers the hidden samples only (``loss_on="hidden"``) or all of them.

    ``sharded`` (default: inside a torchrun process group) means ``batch`` is this rank's shard
    (:func:`~eegssm.train.distributed.shard_rows`) of a global batch: the masks are those of the
    whole global batch, and each term is weighted by
    :func:`~eegssm.train.distributed.global_mean_weight` (windows for the spectral term, hidden
    samples for the masked temporal term), so that DDP's gradient average is the gradient of the
    loss on the global batch. Every rank must then call it at the same step (it all-reduces).
    """

    def __init__(self, loss: ReconstructionLossConfig, mask: MaskConfig, sfreq: float) -> None:
        from eegssm.losses import TemporalSpectralLoss

        self.loss = TemporalSpectralLoss(loss.alpha, loss.beta, loss.fft_norm)
        self.mask = mask
        self.span = max(1, int(round(mask.span_s * sfreq)))

    def __call__(
        self,
        model: nn.Module,
        batch: Sequence[Tensor],
        generator=None,
        sharded: bool | None = None,
    ) -> Tensor:
        from eegssm.models.masking import mask_spans

        x = batch[0].to(next(model.parameters()).device)
        if not (D.is_distributed() if sharded is None else sharded):
            if not self.mask.enabled:
                return self.loss(model(x), x)
            xm, m = mask_spans(x, self.span, self.mask.ratio, generator, self.mask.per_channel)
            return self.loss(model(xm), x, m if self.mask.loss_on == "hidden" else None)
        n = int(D.all_reduce_sum(len(x)))  # the global batch
        windows = D.global_mean_weight(len(x), n)
        if not self.mask.enabled:
            return self.loss(model(x), x) * windows
        xm, m = mask_spans(
            x, self.span, self.mask.ratio, generator, self.mask.per_channel,
            of_batch=(n, D.shard_rows(n)),
        )  # fmt: skip
        if self.mask.loss_on != "hidden":
            return self.loss(model(xm), x) * windows
        temporal, spectral = self.loss.terms(model(xm), x, m)
        hidden = D.global_mean_weight(float(m.sum()))
        return self.loss.alpha * temporal * hidden + self.loss.beta * spectral * windows


@torch.no_grad()
def reconstruction_loss(
    model: nn.Module, objective: ReconstructionObjective, windows: Dataset, batch_size: int = 32
) -> float:
    """Mean objective over a window dataset with a fixed masking seed (comparable across
    calls)."""
    gen = torch.Generator().manual_seed(1234)
    total, n = 0.0, 0
    for xb in batches(windows, batch_size):
        total += float(objective(model, (xb,), generator=gen, sharded=False)) * len(xb)
        n += len(xb)
    return total / max(n, 1)


def pretrain(
    cfg: PretrainConfig,
    train: Any,
    val: Any | None = None,
    resume: bool = False,
    progress: bool = True,
    output_dir: str | Path | None = "config",
):
    """Pretrain an EEGM2 on the windows of ``train`` (labels ignored).

    Args:
        cfg: the pretraining configuration.
        train: training windows (a :class:`~eegssm.data.WindowDataset` or
            :class:`~eegssm.data.ArrayWindows`).
        val: optional held-out windows; their reconstruction loss picks the ``best`` checkpoint.
        resume: continue from ``OUTPUT/last``.
        progress: tqdm bar.
        output_dir: checkpoint folder; ``"config"`` uses ``cfg.output_dir``, None writes nothing.

    Returns:
        ``(model, TrainResult)``; the model holds the last weights.
    """
    from eegssm.train.trainer import Trainer, seed_everything

    out = cfg.output_dir if output_dir == "config" else output_dir
    seed_everything(cfg.train.seed)  # before the model and the data order
    model = build_eegm2(cfg.model, train.n_channels, train.sfreq)
    objective = ReconstructionObjective(cfg.loss, cfg.mask, train.sfreq)
    evaluate = None
    if val is not None and len(val):

        def evaluate(m: nn.Module) -> dict[str, float]:
            return {"val_loss": reconstruction_loss(m, objective, val)}

    tcfg = _train_config(
        cfg.train, out, cfg.device, progress, metric="val_loss" if evaluate else None, mode="min"
    )
    meta = {
        "kind": "eegm2",
        "n_chans": int(train.n_channels),
        "sfreq": train.sfreq,
        "window_s": train.window_samples / train.sfreq,
        "model": cfg.model.model_dump(),
        "pretrain": cfg.model_dump(),
    }
    trainer = Trainer(model, objective, tcfg, evaluate=evaluate, model_config=meta)
    loader = make_loader(train, cfg.train.batch_size, cfg.train.seed, cfg.data.num_workers)
    result = trainer.fit(loader, resume=resume)
    return trainer.model, result


# -- fine-tuning -------------------------------------------------------------------------------


def build_classifier(
    cfg: FinetuneConfig, n_chans: int, n_classes: int, sfreq: float, encoder: EEGM2 | None = None
) -> nn.Module:
    """The configured head on ``encoder`` (loaded from ``cfg.pretrained`` when None)."""
    from eegssm.models.baselines_eeg import EEGNet
    from eegssm.models.eegm2_heads import EEGM2Fine, EEGM2Light, LinearProbe

    if cfg.head == "eegnet":
        return EEGNet(n_chans, n_classes, sfreq=sfreq)
    if encoder is None:
        encoder = (
            load_pretrained(cfg.pretrained)
            if cfg.pretrained
            else build_eegm2(cfg.model, n_chans, sfreq)
        )
    if encoder.n_chans != n_chans:
        raise ValueError(f"encoder has {encoder.n_chans} channels, the data {n_chans}")
    if cfg.head == "light":
        return EEGM2Light(encoder, n_classes)
    if cfg.head == "probe":
        return LinearProbe(encoder, n_classes)
    return EEGM2Fine(encoder, n_classes)


def class_weights(y: np.ndarray, n_classes: int) -> Tensor:
    """Inverse-frequency weights ``N / (K · n_k)`` (classes absent from ``y`` get 0)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.divide(len(y), n_classes * counts, out=np.zeros_like(counts), where=counts > 0)
    return torch.tensor(w, dtype=torch.float32)


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, windows: Any, batch_size: int = 64) -> int:
    """Replace every BatchNorm's running statistics by averages over the windows of a dataset
    (or an ``(N, C, W)`` array).

    The running mean becomes the exact mean over all windows; the running variance the
    size-weighted mean of the per-batch (unbiased) variances.

    Other modules stay in eval mode (no dropout). Returns the number of BatchNorm layers reset.
    Frozen encoders (Light, probe) contain no BatchNorm; the probe's own norm is recomputed.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    was_training = model.training
    model.eval()
    saved = []
    for bn in bns:
        bn.reset_running_stats()
        saved.append(bn.momentum)
        bn.train()
    device = next(model.parameters()).device
    seen = 0
    for xb in batches(windows, batch_size):
        xb = xb.to(device)
        for bn in bns:  # running = weighted mean of batch statistics, weights = batch sizes
            bn.momentum = len(xb) / (seen + len(xb))
        model(xb)
        seen += len(xb)
    for bn, mom in zip(bns, saved):
        bn.momentum = mom
    model.train(was_training)
    return len(bns)


@torch.no_grad()
def predict_proba(model: nn.Module, windows: Any, batch_size: int = 32) -> np.ndarray:
    """Class probabilities ``(N, K)`` for the windows of a dataset (or an ``(N, C, W)`` array),
    in eval mode."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for xb in batches(windows, batch_size):
        logits = model(xb.to(device))
        out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 2), dtype=np.float32)


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """Balanced accuracy (arg-max) and AUROC (binary: P(class 1); multi-class: one-vs-rest macro).

    AUROC is NaN when ``y`` holds a single class.
    """
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    pred = proba.argmax(axis=1)
    out = {
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "accuracy": float((pred == y).mean()),
    }
    if len(np.unique(y)) < 2:
        out["auroc"] = math.nan
    elif proba.shape[1] == 2:
        out["auroc"] = float(roc_auc_score(y, proba[:, 1]))
    else:
        out["auroc"] = float(
            roc_auc_score(y, proba, multi_class="ovr", labels=range(proba.shape[1]))
        )
    return out


def finetune(
    cfg: FinetuneConfig,
    train: Any,
    val: Any | None = None,
    resume: bool = False,
    progress: bool = True,
    output_dir: str | Path | None = "config",
    encoder: EEGM2 | None = None,
    n_classes: int | None = None,
):
    """Train the configured classifier on the labelled windows of ``train`` (a window dataset,
    ``targets >= 0``).

    Cross-entropy, weighted by inverse class frequency when ``cfg.class_weights == "balanced"``.
    With ``val``, balanced accuracy on it is evaluated every ``eval_every`` steps and picks the
    ``best`` checkpoint (and early stopping with ``patience``). BatchNorm statistics are
    recomputed on the training windows before every evaluation and at the end.

    Returns:
        ``(model, TrainResult)``; the model holds the last weights.
    """
    from eegssm.train.trainer import Trainer, seed_everything

    train = train.labelled()
    if not len(train):
        raise ValueError("no labelled training windows: check data.labels against the file names")
    k = n_classes or int(train.targets.max()) + 1
    out = cfg.output_dir if output_dir == "config" else output_dir
    seed_everything(cfg.train.seed)  # before the model and the data order
    model = build_classifier(cfg, train.n_channels, k, train.sfreq, encoder)
    weight = class_weights(train.targets, k) if cfg.class_weights == "balanced" else None

    def loss_fn(m: nn.Module, batch: Sequence[Tensor]) -> Tensor:
        device = next(m.parameters()).device
        x, y = batch[0].to(device), batch[1].to(device)
        logits = m(x)
        w = None
        if weight is not None:  # float32, or float64 for a float64 model
            w = weight.to(device, torch.promote_types(weight.dtype, logits.dtype))
        loss = F.cross_entropy(logits, y, weight=w)
        if not D.is_distributed():
            return loss
        # a (weighted) mean over this rank's shard → its share of the global-batch mean
        return loss * D.global_mean_weight(len(y) if w is None else float(w[y].sum()))

    evaluate = None
    if val is not None and len(val):
        val = val.labelled()

        def evaluate(m: nn.Module) -> dict[str, float]:
            recompute_batchnorm(m, train)
            return classification_metrics(val.targets, predict_proba(m, val))

    tcfg = _train_config(
        cfg.train,
        out,
        cfg.device,
        progress,
        metric="balanced_accuracy" if evaluate else None,
        mode="max",
        # DDP: the Fine head leaves the EEGM2 decoder unused (no gradient)
        find_unused_parameters=cfg.head == "fine",
    )
    meta = {
        "kind": "classifier",
        "head": cfg.head,
        "n_chans": int(train.n_channels),
        "n_classes": k,
        "sfreq": train.sfreq,
        "window_s": train.window_samples / train.sfreq,
        "model": cfg.model.model_dump(),
        "finetune": cfg.model_dump(),
    }
    trainer = Trainer(model, loss_fn, tcfg, evaluate=evaluate, model_config=meta)
    loader = make_loader(train, cfg.train.batch_size, cfg.train.seed, cfg.data.num_workers)
    result = trainer.fit(loader, resume)
    recompute_batchnorm(trainer.model, train)
    return trainer.model, result


# -- command entry points ----------------------------------------------------------------------


def _split(windows: Any, val_subjects: Sequence[str]) -> tuple[Any, Any | None]:
    if not val_subjects:
        return windows, None
    unknown = sorted(set(val_subjects) - set(windows.subject.tolist()))
    if unknown:
        raise ValueError(f"data.val_subjects not found in the data: {unknown}")
    return windows.of_subjects(val_subjects, exclude=True), windows.of_subjects(val_subjects)


def _cache_dir(cfg: PretrainConfig | FinetuneConfig) -> Path:
    return Path(cfg.data.cache_dir or Path(cfg.output_dir) / "cache")


def run_pretrain(cfg: PretrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """``eegssm pretrain``: cache the data, pretrain, write checkpoints; returns a summary."""
    windows = prepare_windows(cfg.data, _cache_dir(cfg), progress)
    train, val = _split(windows, cfg.data.val_subjects)
    _, result = pretrain(cfg, train, val, resume=resume, progress=progress)
    return _summary(cfg.output_dir, result, len(windows.recordings), len(train), val)


def run_finetune(
    cfg: FinetuneConfig, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """``eegssm finetune``: cache the data, train the head, write checkpoints; returns a
    summary."""
    windows = prepare_windows(cfg.data, _cache_dir(cfg), progress)
    train, val = _split(windows, cfg.data.val_subjects)
    labelled = windows.targets[windows.targets >= 0]
    n_classes = int(labelled.max()) + 1 if len(labelled) else None
    model, result = finetune(cfg, train, val, resume=resume, progress=progress, n_classes=n_classes)
    summary = _summary(cfg.output_dir, result, len(windows.recordings), len(train), val)
    if val is not None and len(val) and D.is_main_process():
        v = val.labelled()
        summary["val_last"] = classification_metrics(v.targets, predict_proba(model, v))
    return summary


def _summary(out: str, result, n_recs: int, n_train: int, val: Any | None) -> dict:
    return {
        "output_dir": str(out),
        "recordings": n_recs,
        "train_windows": n_train,
        "val_windows": 0 if val is None else len(val),
        "steps": result.step,
        "epochs": result.epoch,
        "best_metric": result.best_metric,
        "stopped_early": result.stopped_early,
        "skipped_steps": result.skipped_steps,
    }
