"""EEGM2 recipes: reconstruction pretraining and classification fine-tuning on real EEG.

Data flow (the recipes orchestrate; windows come from the one data layer)::

    files matching data.pattern, or the TUAB layout's train split (data.layout: tuab)
    EDF ──build_cache("eegm2": ref19 montage, 128 Hz; p95 scaling per recording as statistics)──▶
        cache ──WindowDataset(window_s, stride_s, target="recording", complete windows only)──▶
        ──pretrain──▶ EEGM2 (TemporalSpectralLoss, optionally masked)   ─┐ checkpoint folder
        ──finetune──▶ EEGM2Light / EEGM2 + Fine head / LinearProbe / EEGNet / ShallowFBCSPNet
                                                    ─┘ (safetensors + JSON)
        ──classify──▶ windows.csv, recordings.csv, classify.json (eegssm.classify)

Checkpoints are read back by :mod:`eegssm.models.eegm2_checkpoint` (re-exported here).

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
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Sampler

from eegssm.config import (
    BASELINE_HEADS,
    EEGM2DataConfig,
    EEGM2TrainingConfig,
    FinetuneConfig,
    MaskConfig,
    PretrainConfig,
    ReconstructionLossConfig,
)
from eegssm.models.eegm2 import EEGM2
from eegssm.models.eegm2_checkpoint import (  # re-exported: the recipes' public names
    attach_head,
    batches,
    build_baseline,
    build_eegm2,
    checkpoint_folder,  # noqa: F401
    eegm2_from_meta,  # noqa: F401
    load_classifier,  # noqa: F401
    load_pretrained,
    predict_logits,
    predict_proba,
)
from eegssm.train import distributed as D

log = logging.getLogger(__name__)

# -- data --------------------------------------------------------------------------------------


def preprocess_config(cfg: EEGM2DataConfig):
    """The preprocessing of ``cfg``'s recordings (a :class:`PreprocessConfig`): the ``eegm2``
    preset (19 referential channels, per-recording 95th-percentile scaling) at ``cfg.sfreq``."""
    from eegssm.preprocessing.pipeline import get_preset

    return get_preset("eegm2", sfreq=cfg.sfreq)


def class_names(cfg: EEGM2DataConfig) -> list[str]:
    """The configured class names; for the TUAB layout ``normal``, ``abnormal`` by default."""
    from eegssm.data.discovery import TUAB_CLASSES

    if cfg.class_names:
        return list(cfg.class_names)
    return list(TUAB_CLASSES) if cfg.layout == "tuab" else []


def _tuab_train_dir(root: Path) -> Path:
    """The folder of TUAB's ``train`` split under ``root`` (the corpus or its ``edf/``).

    Raises:
        FileNotFoundError: no recording under ``.../train/{normal,abnormal}/``.
    """
    from eegssm.data.discovery import find_tuab

    found = [r for r in find_tuab(root) if r.split == "train"]
    if not found:
        raise FileNotFoundError(f"{root}: TUAB layout without recordings under edf/train/")
    rel = found[0].path.relative_to(root).parts
    at = max(i for i, p in enumerate(rel[:-2]) if p.lower() == "train" and
             rel[i + 1].lower() in ("normal", "abnormal"))  # fmt: skip
    return root.joinpath(*rel[: at + 1])


def _tuab_label(entry: dict[str, Any]) -> int | None:
    """TUAB class of a cache entry of the train folder: ``normal`` 0, ``abnormal`` 1 (its first
    folder), else None."""
    from eegssm.data.discovery import TUAB_CLASSES

    first = Path(entry["relpath"]).parts[0].lower()
    return TUAB_CLASSES.index(first) if first in TUAB_CLASSES else None


def prepare_windows(data: EEGM2DataConfig, cache_dir: str | Path, progress: bool = False) -> Any:
    """Build or refresh the ``eegm2`` cache of ``data.data_dir`` in ``cache_dir`` (recordings
    already cached are skipped) and return its windows: a
    :class:`~eegssm.data.WindowDataset` of complete ``data.window_s`` windows, one class per
    recording from ``data.labels`` (``-1`` when unlabelled), subjects from
    ``data.subject_regex``.

    ``data.layout: tuab``: only TUAB's ``train`` split is cached (its ``eval`` split stays
    unseen, for ``eegssm classify``); class from the ``normal`` / ``abnormal`` folder, subject
    from the file name.

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
    tuab = data.layout == "tuab"
    if tuab:
        root = _tuab_train_dir(root)
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
        labels=_tuab_label if tuab else data.labels,
        subject_regex=None if tuab else data.subject_regex, pad_end=False,
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


# -- models ------------------------------------------------------------------------------------


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


def channel_names(windows: Any) -> list[str] | None:
    """The channel names of a window dataset (those of its cached recordings; None for
    windows in memory that do not record them)."""
    names = getattr(windows, "ch_names", None)
    if names is None and getattr(windows, "recordings", None):
        names = windows.recordings[0].entry.get("ch_names")
    return None if names is None else list(names)


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
        "channels": channel_names(train),
        "preprocess": preprocess_config(cfg.data).model_dump(),
        "model": cfg.model.model_dump(),
        "eegm2": asdict(model.config),
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
    if cfg.head in BASELINE_HEADS:
        return build_baseline(cfg.head, n_chans, n_classes, sfreq)
    if encoder is None:
        encoder = (
            load_pretrained(cfg.pretrained)
            if cfg.pretrained
            else build_eegm2(cfg.model, n_chans, sfreq)
        )
    if encoder.n_chans != n_chans:
        raise ValueError(f"encoder has {encoder.n_chans} channels, the data {n_chans}")
    return attach_head(cfg.head, encoder, n_classes, band_power=cfg.band_power)


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


#: Inverse L2 strengths ``C`` tried by :func:`fit_final_layer` (sklearn's convention).
LOGREG_C_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


@torch.no_grad()
def penultimate_features(model: nn.Module, windows: Any, batch_size: int = 16) -> np.ndarray:
    """``model.penultimate`` (what its ``final_layer`` sees) on the windows of a dataset (or an
    ``(N, C, W)`` array): ``(N, F)`` float64."""
    model.eval()
    device = next(model.parameters()).device
    out = [model.penultimate(xb.to(device)).double().cpu() for xb in batches(windows, batch_size)]
    return torch.cat(out).numpy()


def fit_final_layer(
    model: nn.Module,
    train: Any,
    c_grid: Sequence[float] = LOGREG_C_GRID,
    inner_folds: int = 4,
    seed: int = 0,
    class_weight: str | None = "balanced",
) -> dict[str, Any]:
    """Fit a frozen-encoder head's ``final_layer`` as an L2-regularised logistic regression.

    For heads whose only trainable part is a linear layer on fixed features (``LinearProbe``,
    ``EEGM2Light`` without hidden layers): BatchNorm statistics are set from ``train`` (a window
    dataset), the standardised features computed once, and ``C`` (inverse L2 strength) chosen
    from ``c_grid`` by subject-wise cross-validation inside ``train`` (``inner_folds`` folds of
    whole subjects; mean balanced accuracy, ties to the stronger regularisation); the final fit
    uses every labelled training window. A convex problem: no learning rate, no step count, no
    seed dependence beyond the inner folds.

    Returns:
        ``{"C": chosen, "inner_cv": {C: mean balanced accuracy}, "oof_logits": (N, K) float64
        or None}``: ``oof_logits`` are the inner folds' held-out logits at the chosen ``C``
        (every window predicted by a fit that never saw its subject; in ``train.labelled()``
        order, in the ``final_layer`` convention), for calibration without a validation split.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    train = train.labelled()
    y, subject = train.targets, train.subject
    recompute_batchnorm(model, train)
    z = penultimate_features(model, train)
    k = model.final_layer.out_features

    def fit(c: float, rows: np.ndarray):
        return LogisticRegression(C=c, class_weight=class_weight, max_iter=5000).fit(
            z[rows], y[rows]
        )

    def layer(lr) -> tuple[np.ndarray, np.ndarray]:
        """``(weight (K, F), bias (K,))`` of a fit; sklearn's binary form (one logit
        difference) split into ``±d/2``."""
        coef, intercept = lr.coef_, lr.intercept_
        if k == 2 and coef.shape[0] == 1:
            coef = np.concatenate([-coef / 2, coef / 2])
            intercept = np.concatenate([-intercept / 2, intercept / 2])
        return coef, intercept

    scores: dict[float, float] = {}
    oof: dict[float, np.ndarray] = {}
    n_inner = min(inner_folds, len(set(subject.tolist())))
    if len(c_grid) > 1 and n_inner >= 2:
        folds = subject_folds(subject.tolist(), n_inner, seed)
        for c in c_grid:
            bas, logits = [], np.full((len(z), k), np.nan)
            for held in folds:
                te = np.isin(subject, held)
                if len(np.unique(y[~te])) < 2 or len(np.unique(y[te])) < 2:
                    continue
                coef, intercept = layer(fit(c, ~te))
                logits[te] = z[te] @ coef.T + intercept
                bas.append(balanced_accuracy_score(y[te], logits[te].argmax(1)))
            scores[c] = float(np.mean(bas)) if bas else float("nan")
            oof[c] = logits
    valid = {c: v for c, v in scores.items() if np.isfinite(v)}
    best = max(valid, key=lambda c: (round(valid[c], 6), -c)) if valid else c_grid[0]
    coef, intercept = layer(fit(best, np.ones(len(z), dtype=bool)))
    with torch.no_grad():
        model.final_layer.weight.copy_(torch.from_numpy(coef))
        model.final_layer.bias.copy_(torch.from_numpy(intercept))
    held_out = oof.get(best)
    if held_out is not None and np.isnan(held_out).any():
        held_out = None  # a fold was skipped (one class): not every window has a prediction
    return {"C": best, "inner_cv": {str(c): v for c, v in scores.items()}, "oof_logits": held_out}


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

    **Calibration.** At each evaluation a temperature is fitted on the validation windows
    (:func:`eegssm.calibration.fit_temperature`) and saved with the checkpoint, so ``best`` and
    ``last`` carry the temperature of their own weights; without ``val`` it is 1 (uncalibrated,
    recorded as such). The checkpoint's ``config.json`` also holds everything
    ``eegssm classify`` needs: class names, channels, preprocessing (montage, rate,
    normalisation) and the window length.

    Returns:
        ``(model, TrainResult)``; the model holds the last weights.
    """
    from eegssm.train.trainer import Trainer, seed_everything

    train = train.labelled()
    if not len(train):
        raise ValueError("no labelled training windows: check data.labels against the file names")
    k = n_classes or int(train.targets.max()) + 1
    names = class_names(cfg.data) or [f"class{i}" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"data.class_names has {len(names)} names for {k} classes")
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

    eegm2 = model if isinstance(model, EEGM2) else getattr(model, "encoder", None)
    meta = {
        "kind": "classifier",
        "head": cfg.head,
        "n_chans": int(train.n_channels),
        "n_classes": k,
        "classes": names,
        "sfreq": train.sfreq,
        "window_s": train.window_samples / train.sfreq,
        "channels": channel_names(train),
        "preprocess": preprocess_config(cfg.data).model_dump(),
        "calibration": {"method": "none", "temperature": 1.0},
        "band_power": cfg.band_power,
        "model": cfg.model.model_dump(),
        "finetune": cfg.model_dump(),
    }
    if eegm2 is not None:
        meta["eegm2"] = asdict(eegm2.config)

    evaluate = None
    if val is not None and len(val):
        val = val.labelled()

        def evaluate(m: nn.Module) -> dict[str, float]:
            recompute_batchnorm(m, train)
            # saved with this evaluation's checkpoint(s): Trainer holds this same dict
            return calibrate(
                meta, predict_logits(m, val), val.targets, f"validation split ({len(val)} windows)"
            )

    if cfg.solver == "logreg":
        return _fit_logreg(cfg, model, train, evaluate, meta, out)
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
    trainer = Trainer(model, loss_fn, tcfg, evaluate=evaluate, model_config=meta)
    loader = make_loader(train, cfg.train.batch_size, cfg.train.seed, cfg.data.num_workers)
    result = trainer.fit(loader, resume)
    recompute_batchnorm(trainer.model, train)
    if evaluate is None:  # `last` was saved with the running BatchNorm statistics
        trainer.save("last")
    return trainer.model, result


def calibrate(meta: dict, logits: np.ndarray, y: np.ndarray, fitted_on: str) -> dict[str, float]:
    """Fit a temperature on held-out ``logits (N, K)`` with classes ``y (N,)``, record it in
    ``meta["calibration"]`` and return the calibrated classification metrics (+ temperature)."""
    from eegssm.calibration import calibrated_proba, fit_temperature, nll

    t = fit_temperature(logits, y)
    meta["calibration"] = {
        "method": "temperature",
        "temperature": t,
        "fitted_on": fitted_on,
        "nll_before": nll(logits, y),
        "nll_after": nll(logits, y, t),
    }
    return {**classification_metrics(y, calibrated_proba(logits, t)), "temperature": t}


def _fit_logreg(
    cfg: FinetuneConfig, model: nn.Module, train: Any, evaluate: Any, meta: dict, out: Any
):
    """``solver: logreg``: the probe's final layer as a logistic regression
    (:func:`fit_final_layer`, on every training window). With a validation split it is
    evaluated and calibrated there like a trained head; without one the temperature is fitted
    on the inner subject-wise CV's held-out logits and those give the reported metrics. ``OUT/best``
    and ``OUT/last`` hold the same fitted model."""
    from eegssm.train.checkpoint import save_checkpoint
    from eegssm.train.trainer import TrainResult

    info = fit_final_layer(
        model,
        train,
        seed=cfg.train.seed,
        class_weight="balanced" if cfg.class_weights == "balanced" else None,
    )
    oof = info.pop("oof_logits")
    meta["solver"] = {
        "method": "logistic regression (L2, C by subject-wise CV inside the training subjects)",
        **info,
    }
    if evaluate is not None:
        metrics = evaluate(model)
    elif oof is not None:
        where = f"held-out logits of the inner subject-wise CV ({len(oof)} windows)"
        metrics = calibrate(meta, oof, train.targets, where)
    else:
        metrics = {}
    log.info("logistic regression: C=%s, held-out %s", info["C"], metrics)
    if out is not None and D.is_main_process():
        state = {"step": 0, "epoch": 0, "metrics": metrics, "solver": meta["solver"]}
        for name in ("last", "best"):
            save_checkpoint(Path(out) / name, model, meta, state)
    best = metrics.get("balanced_accuracy")
    history = [{"step": 0, **metrics}] if metrics else []
    return model, TrainResult(0, 0, best, False, 0, history)


# -- command entry points ----------------------------------------------------------------------


def carve_val_subjects(subjects: Sequence[str], fraction: float, seed: int = 0) -> list[str]:
    """``fraction`` of the distinct ``subjects`` (at least one, never all), drawn with ``seed``:
    a validation split disjoint from training by subject. Empty for ``fraction`` 0."""
    distinct = sorted(set(subjects))
    if fraction <= 0 or len(distinct) < 2:
        return []
    k = min(len(distinct) - 1, max(1, round(fraction * len(distinct))))
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(distinct, k, replace=False).tolist())


def validation_subjects(cfg: EEGM2DataConfig, windows: Any) -> list[str]:
    """``data.val_subjects``, else ``data.val_fraction`` of the subjects of ``windows``."""
    if cfg.val_subjects:
        return list(cfg.val_subjects)
    return carve_val_subjects(windows.subject.tolist(), cfg.val_fraction)


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
    train, val = _split(windows, validation_subjects(cfg.data, windows))
    _, result = pretrain(cfg, train, val, resume=resume, progress=progress)
    summary = _summary(cfg.output_dir, result, len(windows.recordings), len(train), val)
    return {**summary, "best_metric_name": "validation loss"}


def run_finetune(
    cfg: FinetuneConfig, resume: bool = False, progress: bool = True
) -> dict[str, Any]:
    """``eegssm finetune``: cache the data, train the head, write checkpoints; returns a
    summary."""
    windows = prepare_windows(cfg.data, _cache_dir(cfg), progress)
    train, val = _split(windows, validation_subjects(cfg.data, windows))
    labels = cfg.data.labels if cfg.data.layout == "files" else {}
    n_classes = len(class_names(cfg.data)) or (max(labels.values()) + 1 if labels else None)
    model, result = finetune(cfg, train, val, resume=resume, progress=progress, n_classes=n_classes)
    summary = _summary(cfg.output_dir, result, len(windows.recordings), len(train), val)
    held_out = "validation split" if val is not None and len(val) else "inner subject-wise CV"
    summary["best_metric_name"] = f"balanced accuracy ({held_out})"
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
        "val_subjects": [] if val is None else sorted(set(val.subject.tolist())),
        "steps": result.step,
        "epochs": result.epoch,
        "best_metric": result.best_metric,
        "stopped_early": result.stopped_early,
        "skipped_steps": result.skipped_steps,
    }
