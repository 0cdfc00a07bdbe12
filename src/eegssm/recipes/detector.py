"""Seizure-detector training recipe: corpus → cache → balanced windows → Trainer → operating points.

``train_detector(recipe)`` (``eegssm train CONFIG.yaml``):

1. data: generate the synthetic corpus if the recipe asks for one
   (:mod:`eegssm.recipes.synthetic_corpus`), build / refresh the cache of preprocessed
   recordings (:func:`eegssm.data.build_cache`), select the train and dev subjects (cache
   splits, or :func:`eegssm.data.split_by_subject`);
2. training: :class:`eegssm.data.WindowDataset` windows (the preset's window and stride, cut
   from the cached recordings when read) drawn by
   :class:`eegssm.data.BalancedSampler`, optionally cropped (seizure-centred with some
   probability), focal loss (α 0.5, γ 2) on per-sample logits with the validity mask, and the shared
   :class:`eegssm.train.trainer.Trainer` (AdamW without decay on norms / biases / SSM parameters,
   warm-up + cosine, gradient clipping, NaN guard, bfloat16 autocast on CUDA only, atomic
   checkpoints, resume);
3. early stopping on dev: whole dev recordings are read from the cache, run through
   :func:`eegssm.inference.predict_recordings` (one pass over each recording), post-processed at
   every threshold and scored with OVERLAP (:func:`eegssm.scoring.traces.score_probabilities`); the
   metric ``score`` is the sensitivity at ``stop_fa_per_24h`` plus ``1e-3 ×`` sample AUROC as
   tie-break (AUROC alone when dev holds no seizure);
4. operating points: with the best weights, thresholds for each FA/24h target are chosen on dev
   (:func:`eegssm.scoring.traces.operating_points_for`) and written with the
   preprocessing preset, window / stride and post-processing settings into
   ``output_dir/model/config.json`` beside ``model.safetensors`` (loadable with
   ``SeizureDetector.from_pretrained``, or with its metadata as
   :meth:`eegssm.detection.Detector.from_checkpoint`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eegssm.config import DetectorRecipe, TrainConfig
from eegssm.data.recordings import EvalRecording, recordings_from_cache
from eegssm.inference import predict_recordings
from eegssm.scoring.traces import operating_points_for, score_probabilities, sensitivity_at

log = logging.getLogger(__name__)

#: Tie-break weight of the AUROC in the early-stopping score (below one seizure's sensitivity for
#: fewer than 1000 dev seizures).
AUROC_TIE_BREAK = 1e-3


# -- data -------------------------------------------------------------------------------------
def prepare_cache(recipe: DetectorRecipe, progress: bool = True) -> Path:
    """Generate the corpus (if configured) and build or refresh the cache; returns it."""
    from eegssm.data import build_cache
    from eegssm.recipes.synthetic_corpus import CORPUS_INDEX, generate_corpus

    data = recipe.data
    cache = Path(data.cache_dir)
    if data.corpus_dir is None:
        if not (cache / "manifest.json").is_file():
            raise FileNotFoundError(f"{cache}: no cache manifest, and no data.corpus_dir to build")
        return cache
    corpus = Path(data.corpus_dir)
    if data.generate is not None and not (corpus / CORPUS_INDEX).is_file():
        log.info("generating the synthetic corpus in %s", corpus)
        generate_corpus(corpus, data.generate, progress=progress)
    report = build_cache(
        corpus, cache, data.preprocess, workers=data.build_workers, progress=progress
    )
    if report.failed:
        log.warning("%d recordings failed to cache: %s", len(report.failed), report.failed[:3])
    return cache


def split_selection(cache_dir: str | Path, recipe: DetectorRecipe) -> dict[str, dict[str, Any]]:
    """``{"train": kwargs, "dev": kwargs}`` for :class:`WindowDataset` (``split=`` when the cache
    has TUSZ-style splits, else ``subjects=`` from :func:`split_by_subject`)."""
    from eegssm.data import Manifest, split_by_subject

    manifest = Manifest.load(cache_dir)
    data = recipe.data
    if any(r.get("split") for r in manifest.recordings):
        return {"train": {"split": data.train_split}, "dev": {"split": data.dev_split}}
    for name in (data.train_split, data.dev_split):
        if name not in data.fractions:
            raise ValueError(f"data.fractions has no {name!r} split: {data.fractions}")
    splits = split_by_subject(manifest, data.fractions, data.split_seed)
    return {
        "train": {"subjects": splits[data.train_split]},
        "dev": {"subjects": splits[data.dev_split]},
    }


def crop_batch(
    x: Tensor, y: Tensor, mask: Tensor, length: int, seizure_prob: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Random crops of ``length`` samples from ``x (B, C, W)``, ``y (B, W)``, ``mask (B, W)``.

    With probability ``seizure_prob`` a window holding seizure samples is cropped around a
    random seizure sample (at a random position inside the crop); otherwise uniformly. Uses the
    torch RNG (seeded and checkpointed by the Trainer).
    """
    B, _, W = x.shape
    if length >= W:
        return x, y, mask
    starts = torch.randint(0, W - length + 1, (B,))
    positive = (y > 0.5) & mask
    for b in range(B):
        idx = torch.nonzero(positive[b]).flatten()
        if idx.numel() and float(torch.rand(())) < seizure_prob:
            centre = int(idx[torch.randint(0, idx.numel(), ())])
            offset = int(torch.randint(0, length, ()))
            starts[b] = min(max(centre - offset, 0), W - length)
    index = starts[:, None] + torch.arange(length)[None, :]  # (B, length)
    xc = torch.gather(x, 2, index[:, None, :].expand(-1, x.shape[1], -1))
    return xc, torch.gather(y, 1, index), torch.gather(mask, 1, index)


# -- evaluation -------------------------------------------------------------------------------
def make_dev_evaluator(recipe: DetectorRecipe, recordings: list[EvalRecording], device: str):
    """``evaluate(model) -> {"score", "auroc", "pr_auc", "sensitivity", "fa_per_24h", ...}``."""
    ev = recipe.evaluation
    sfreq = recordings[0].sfreq
    window = int(round(_window_s(recipe) * sfreq))
    stride = int(round(ev.stride_s * sfreq))

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        t0 = time.perf_counter()
        probs = predict_recordings(
            model, recordings, window, stride, ev.batch_size, device, ev.inference
        )
        metrics, curve = score_probabilities(recordings, probs, ev.postprocess, ev.n_thresholds)
        sens, fa, th = sensitivity_at(curve, ev.stop_fa_per_24h)
        auc = metrics["auroc"]
        if curve.targets:
            score = sens + (AUROC_TIE_BREAK * auc if math.isfinite(auc) else 0.0)
        else:
            score = auc
        return {
            "score": float(score),
            "auroc": float(auc),
            "pr_auc": float(metrics["pr_auc"]),
            f"sensitivity_at_{ev.stop_fa_per_24h:g}_fa": sens,
            "fa_per_24h": fa,
            "threshold": th,
            "seconds": time.perf_counter() - t0,
        }

    return evaluate


def _window_s(recipe: DetectorRecipe) -> float:
    from eegssm.preprocessing.pipeline import get_preset

    return float(get_preset(recipe.data.preprocess).window_s)


# -- the model's JSON config ------------------------------------------------------------------
def model_metadata(model, recipe: DetectorRecipe) -> dict[str, Any]:
    """What ``config.json`` holds besides the operating points: the fields
    ``SeizureDetector.from_pretrained`` reads plus preset names, preprocessing and windows."""
    from eegssm import __version__
    from eegssm.contract import InputSpec
    from eegssm.preprocessing.pipeline import get_preset

    pre = get_preset(recipe.data.preprocess)
    meta = {
        **model.architecture_meta(),
        "preset": recipe.model.preset,
        "core": recipe.model.core,
        "causal": recipe.model.causal,
        "preprocess": {"preset": recipe.data.preprocess, "config": pre.model_dump()},
        "window_s": pre.window_s,
        "stride_s": recipe.evaluation.stride_s,
        "postprocess": asdict(recipe.evaluation.postprocess),
        "description": recipe.description,
        "eegssm_version": __version__,
    }
    meta["input"] = InputSpec.from_meta(meta).to_json()  # montage, channels, rate, window
    return meta


# -- the recipe -------------------------------------------------------------------------------
def build_model(recipe: DetectorRecipe, n_chans: int, n_times: int, sfreq: float):
    from eegssm.models.detector import SeizureDetector

    m = recipe.model
    return SeizureDetector.from_preset(
        m.preset, n_chans=n_chans, n_times=n_times, sfreq=sfreq, core=m.core, causal=m.causal,
        **{k: tuple(v) if isinstance(v, list) else v for k, v in m.overrides.items()},
    )  # fmt: skip


def train_detector(
    recipe: DetectorRecipe, resume: bool = False, device: str = "cpu", progress: bool = True
) -> dict[str, Any]:
    """Run the recipe (module docstring); returns a summary (also in ``output_dir/summary.json``).

    Args:
        recipe: a validated :class:`DetectorRecipe`.
        resume: continue from ``output_dir/checkpoints/last`` when it exists.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; mixed precision is used on CUDA only.
        progress: progress bars.
    """
    from torch.utils.data import DataLoader

    from eegssm import atomic
    from eegssm.data import BalancedSampler, WindowDataset
    from eegssm.hub import write_model_card
    from eegssm.losses import FocalLoss
    from eegssm.train import distributed
    from eegssm.train.checkpoint import load_weights, save_weights, write_json_atomic
    from eegssm.train.trainer import Trainer, seed_everything

    t_start = time.perf_counter()
    out = Path(recipe.output_dir)
    main_process = distributed.is_main_process()
    if main_process:  # under torchrun, rank 0 builds the cache while the others wait
        out.mkdir(parents=True, exist_ok=True)
        prepare_cache(recipe, progress=progress)
    distributed.barrier()
    cache = Path(recipe.data.cache_dir)
    select = split_selection(cache, recipe)
    train_ds = WindowDataset(cache, **select["train"])
    dev_ds = WindowDataset(cache, **select["dev"])
    if len(train_ds) == 0:
        raise ValueError(f"{cache}: no training windows for {select['train']}")
    if len(dev_ds) == 0:
        raise ValueError(f"{cache}: no dev windows for {select['dev']}")
    n_chans, window, sfreq = train_ds.n_channels, train_ds.window_samples, train_ds.sfreq

    seed_everything(recipe.optim.seed)  # before the model and the data order: reproducible
    s = recipe.sampling
    sampler = BalancedSampler(
        train_ds.classes, s.partial, s.full, s.background_ratio, seed=recipe.optim.seed,
        **distributed.sampler_kwargs(),  # each rank its share of the same balanced epoch
    )  # fmt: skip
    loader = DataLoader(
        train_ds, batch_size=s.batch_size, sampler=sampler, num_workers=s.num_workers,
        drop_last=len(sampler) >= s.batch_size,
    )  # fmt: skip
    crop = int(round(s.crop_s * sfreq)) if s.crop_s else None
    focal = FocalLoss(recipe.loss.alpha, recipe.loss.gamma)

    def loss_fn(model, batch) -> Tensor:
        x, y, mask = batch
        if crop is not None:
            x, y, mask = crop_batch(x, y, mask, crop, s.seizure_crop_prob)
        dev = next(model.parameters()).device
        return focal(model(x.to(dev)), y.to(dev), mask.to(dev))

    model = build_model(recipe, n_chans, window, sfreq)
    dev_recs = recordings_from_cache(dev_ds, recipe.evaluation.max_recordings)
    evaluate = make_dev_evaluator(recipe, dev_recs, device)
    cfg = TrainConfig(
        **recipe.optim.model_dump(), metric="score", mode="max",
        checkpoint_dir=str(out / "checkpoints"), device=device, progress=progress,
    )  # fmt: skip
    meta = model_metadata(model, recipe)
    trainer = Trainer(model, loss_fn, cfg, evaluate=evaluate, model_config=meta)
    t_fit = time.perf_counter()
    result = trainer.fit(loader, resume=resume)
    fit_s = time.perf_counter() - t_fit

    if not main_process:  # rank 0 chooses the operating points and writes the model
        distributed.barrier()
        return {"steps": result.step, "fit_seconds": fit_s, "rank": distributed.get_rank()}
    best = out / "checkpoints" / "best"
    if best.is_dir():
        load_weights(best / "model.safetensors", trainer.model)
    ev = recipe.evaluation
    probs = predict_recordings(
        trainer.model, dev_recs, window, int(round(ev.stride_s * sfreq)), ev.batch_size, device,
        ev.inference,
    )  # fmt: skip
    dev_metrics, curve = score_probabilities(dev_recs, probs, ev.postprocess, ev.n_thresholds)
    points = operating_points_for(curve, ev.targets_fa_per_24h, ev.postprocess, "dev")
    meta.update(
        operating_points=points,
        operating_points_note=(
            "thresholds chosen on the dev split with post-processing (on = threshold, off = "
            "off_threshold) and OVERLAP scoring; FA/24h resolution on dev is "
            f"{24 / max(dev_metrics['hours'], 1e-9):.1f} per false alarm"
        ),
        dev={
            **dev_metrics,
            "recordings": len(dev_recs),
            "subjects": len({r.subject for r in dev_recs}),
        },
        training={
            "steps": result.step,
            "best_score": result.best_metric,
            "stopped_early": result.stopped_early,
            "skipped_steps": result.skipped_steps,
            "fit_seconds": fit_s,
            "device": device,
            "torch_threads": torch.get_num_threads(),
            "train_windows": len(train_ds),
            "train_hours": float(sum(e["duration_s"] for e in train_ds.entries) / 3600),
            "train_subjects": len({e["subject"] for e in train_ds.entries}),
            "cache": str(cache),
        },
        recipe=recipe.model_dump(mode="json"),
    )  # fmt: skip
    final = out / "model"
    with atomic.together():  # weights and config appear together or not at all
        save_weights(final / "model.safetensors", trainer.model)
        write_json_atomic(final / "config.json", meta)
    write_model_card(final, meta)
    summary = {
        "model_dir": str(final),
        "steps": result.step,
        "fit_seconds": fit_s,
        "total_seconds": time.perf_counter() - t_start,
        "dev": meta["dev"],
        "operating_points": points,
    }
    write_json_atomic(out / "summary.json", summary)
    distributed.barrier()
    return summary
