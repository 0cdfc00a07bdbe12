"""The bundled seizure detector's recipe: real seizure-free EEG, real and synthetic seizures,
operating points chosen out of fold on real seizure-free EEG.

``eegssm train configs/detector_real.yaml`` (or ``scripts/train_default_checkpoint.py``):

1. **data** (:func:`load_corpus`): every recording of ``data_dir`` is preprocessed once into the
   18-channel longitudinal bipolar montage (double banana) without normalisation: PhysioNet eegmat
   (24 subjects, rest and task, seizure-free) and eegmmidb S001 (14 runs) as seizure-free EEG; the
   CHB-MIT chb01 clips (7 seizure onsets, 10 s each, and the 10 s before each) as real seizures and
   as negatives *from the same recordings*; Bonn set S (intracranial ictal, one channel) only as
   source waveforms of synthetic seizures;
2. **folds** (:func:`assign_folds`): ``k`` folds (default 7, one per chb01 seizure); fold ``i``
   holds out chb01 seizure ``i`` (its ictal and pre-ictal clip) and a ``1/k`` share of the
   seizure-free subjects (eegmmidb's one subject in one fold);
3. **training** (:func:`train_model`): ``SeizureDetector`` (``fast`` preset) on batches from
   :class:`eegssm.data.seizure_examples.ExampleSampler`, focal loss, the shared ``Trainer``; a fixed
   number of steps (no early stopping: nothing held out is looked at during training);
4. **out of fold** (:func:`cross_validate`): each fold's model scores its held-out recordings
   exactly as ``eegssm detect`` would (the checkpoint's normalisation, windows and
   post-processing); the per-sample probabilities are kept in ``OUT/folds/oof.npz``;
5. **operating points** (:func:`choose_points`): for each FA/24h target, the thresholds whose
   out-of-fold false alarms on all real seizure-free EEG stay within budget and that flag as many
   held-out onsets as the lowest of them; the middle of that run, not its edge next to the last
   false alarm (the same out-of-fold result with a margin for EEG not seen here). With ~2 h of
   negatives one false alarm is ≥ 11 FA/24h: the hours and that resolution are stored, and
   targets that cannot be told apart share a threshold and say so;
6. **final model** (:func:`train_final`): trained on everything with the same recipe; its
   ``config.json`` holds the preprocessing, windows, post-processing, operating points and the
   out-of-fold evidence; a model card ``README.md`` is written beside it.

Everything is seeded; folds resume (a fold whose out-of-fold file exists is not retrained).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eegssm.config import RealDetectorRecipe
from eegssm.data.seizure_examples import ExampleSampler, Segment

log = logging.getLogger(__name__)


def load_real_recipe(path: str | Path, overrides: dict[str, Any] | None = None):
    """Read and validate a ``detector_real`` recipe (:class:`~eegssm.config.RealDetectorRecipe`;
    errors name the file and each bad key)."""
    from eegssm.config import RealDetectorRecipe, load_config

    return load_config(path, RealDetectorRecipe, overrides)


# -- data -------------------------------------------------------------------------------------
def load_corpus(recipe: RealDetectorRecipe, progress: bool = False) -> tuple[list[Segment], Any]:
    """``(segments, bonn)``: every development recording preprocessed (not normalised), and the
    Bonn set S segments at the detector's rate (or None)."""
    import warnings

    from tqdm.auto import tqdm

    from eegssm.data import ictal
    from eegssm.data.corpora import read_bonn_set, read_chbmit_clips
    from eegssm.data.discovery import identify
    from eegssm.data.seizure_examples import load_segments
    from eegssm.io import read_recording

    d = recipe.data
    root = Path(d.data_dir)
    cfg = recipe.preprocess_config()
    eegmat = sorted((root / d.eegmat).glob("*.edf"))
    if not eegmat:
        raise FileNotFoundError(f"{root / d.eegmat}: no eegmat EDF files (PhysioNet eegmat)")
    groups = [("eegmat", eegmat), ("eegmmidb", sorted((root / d.eegmmidb).glob("*.edf")))]
    segments: list[Segment] = []
    for dataset, paths in groups:
        for path in tqdm(paths, desc=f"reading {dataset}", disable=not progress, leave=False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rec = read_recording(path)
            rec.meta["subject"] = identify(
                path, root / (d.eegmat if dataset == "eegmat" else d.eegmmidb)
            ).subject
            rec.meta["name"] = path.stem
            rec.events = []  # eegmmidb's T0/T1/T2 are task markers, not seizures
            segments += load_segments([rec], cfg, dataset)
    for folder in d.chbmit_clips:
        clips = read_chbmit_clips(root / folder)
        segments += load_segments(clips, cfg, "chbmit")
    bonn = None
    if d.bonn_ictal and (root / d.bonn_ictal).is_file():
        bonn = ictal.bonn_at(read_bonn_set(root / d.bonn_ictal), float(cfg.sfreq))
    return segments, bonn


def assign_folds(segments: list[Segment], k: int) -> dict[str, int]:
    """Segment name → fold. Fold ``i`` gets clip group member ``i`` (a seizure and its pre-ictal
    clip share a name) and a round-robin share of the seizure-free subjects (sorted)."""
    folds: dict[str, int] = {}
    seizures = sorted({s.name for s in segments if s.kind != "recording"})
    for i, name in enumerate(seizures):
        folds[name] = i % k
    subjects = sorted({(s.dataset, s.subject) for s in segments if s.kind == "recording"})
    offset = len(seizures)
    by_subject = {subj: (offset + i) % k for i, subj in enumerate(subjects)}
    for s in segments:
        if s.kind == "recording":
            folds[s.name] = by_subject[(s.dataset, s.subject)]
    return folds


# -- training ---------------------------------------------------------------------------------
def build_model(recipe: RealDetectorRecipe, n_chans: int, sfreq: float):
    from eegssm.models.detector import SeizureDetector

    m = recipe.model
    over = {k: tuple(v) if isinstance(v, list) else v for k, v in m.overrides.items()}
    return SeizureDetector.from_preset(
        m.preset, n_chans=n_chans, sfreq=sfreq, core=m.core, causal=m.causal, **over
    )


def train_model(
    recipe: RealDetectorRecipe,
    segments: list[Segment],
    bonn,
    out_dir: Path,
    seed: int,
    progress: bool = False,
    resume: bool = True,
):
    """Train one model on ``segments``; checkpoints in ``out_dir/checkpoints``."""
    from eegssm.losses import FocalLoss
    from eegssm.preprocessing import filters
    from eegssm.train.trainer import TrainConfig, Trainer, seed_everything

    cfg = recipe.preprocess_config()
    first = segments[0]
    sos = filters.design_filter(
        first.sfreq, cfg.l_freq, cfg.h_freq, cfg.notch, cfg.filter_order, cfg.notch_quality
    )
    o = recipe.optim
    sampler = ExampleSampler(
        segments, sos, bonn, recipe.examples, o.batch_size, o.steps_per_epoch, seed,
        scale_uv=cfg.scale_uv if cfg.normalize == "fixed" else None,
    )  # fmt: skip
    seed_everything(seed)  # before the model: a run is bit-reproducible for a given seed
    model = build_model(recipe, len(first.ch_names), first.sfreq)
    focal = FocalLoss(recipe.loss.alpha, recipe.loss.gamma)

    def loss_fn(m, batch):
        x, y, mask = batch
        dev = next(m.parameters()).device
        return focal(m(x.to(dev)), y.to(dev), mask.to(dev))

    tc = TrainConfig(
        **o.model_dump(exclude={"batch_size", "steps_per_epoch", "seed"}),
        checkpoint_dir=str(out_dir / "checkpoints"), seed=seed, progress=progress,
    )  # fmt: skip
    trainer = Trainer(model, loss_fn, tc, model_config={"recipe": "detector_real"})
    t0 = time.perf_counter()
    result = trainer.fit(sampler, resume=resume)
    return trainer.model.eval(), {"steps": result.step, "seconds": time.perf_counter() - t0}


# -- scoring ----------------------------------------------------------------------------------
def predict_segment(model, seg: Segment, recipe: RealDetectorRecipe) -> np.ndarray:
    """Per-sample probabilities ``(T,)`` of one segment as ``eegssm detect`` computes them
    (``recipe.evaluation.inference``: one pass over the segment by default)."""
    from eegssm.inference import predict
    from eegssm.preprocessing.pipeline import normalise

    cfg = recipe.preprocess_config()
    ev = recipe.evaluation
    x = normalise(seg.data, cfg)
    window = int(round(cfg.window_s * seg.sfreq))
    stride = int(round(cfg.stride_s * seg.sfreq))
    return predict(model, x, window, stride, ev.batch_size, mode=ev.inference)


def cross_validate(
    recipe: RealDetectorRecipe,
    segments: list[Segment],
    bonn,
    progress: bool = False,
    only: list[int] | None = None,
) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of every segment (``"name|kind"`` → ``(T,)``), fold by fold.

    Each fold's probabilities are saved in ``OUT/folds/<i>/oof.npz`` and reused when present.
    ``only``: train just these folds (e.g. one per process) and return what exists.
    """
    out = Path(recipe.output_dir) / "folds"
    folds = assign_folds(segments, recipe.evaluation.folds)
    probs: dict[str, np.ndarray] = {}
    for i in range(recipe.evaluation.folds):
        held = [s for s in segments if folds[s.name] == i]
        path = out / str(i) / "oof.npz"
        if not path.is_file() and (only is None or i in only):
            train = [s for s in segments if folds[s.name] != i]
            log.info("fold %d: %d held out, %d for training", i, len(held), len(train))
            model, _ = train_model(recipe, train, bonn, out / str(i), recipe.optim.seed, progress)
            _save_npz(path, {key(s): predict_segment(model, s, recipe) for s in held})
        if path.is_file():
            with np.load(path) as z:
                probs.update({key(s): z[key(s)] for s in held})
    return probs


def key(segment: Segment) -> str:
    """The out-of-fold key of a segment (a seizure's ictal and pre-ictal clips share a name)."""
    return f"{segment.name}|{segment.kind}"


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` through a temporary file and a rename (never a half-written file)."""
    from eegssm import atomic

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    atomic.write_atomic(path, write)


def events_at(probs: np.ndarray, sfreq: float, threshold: float, postprocess):
    """Post-processed events of one probability trace at ``threshold``, the off-threshold
    keeping ``postprocess``'s gap below it (a ``PostprocessConfig``)."""
    from eegssm.postprocess import postprocess as run

    gap = postprocess.on_threshold - postprocess.off_threshold
    cfg = replace(postprocess, on_threshold=threshold, off_threshold=max(threshold - gap, 0.0))
    return run(probs, sfreq, cfg)


def choose_points(
    recipe: RealDetectorRecipe, segments: list[Segment], probs: dict[str, np.ndarray]
) -> dict[str, Any]:
    """Operating points and the out-of-fold evidence (see the module docstring).

    Returns a JSON-ready dict: ``operating_points`` (one per target, with ``threshold``,
    ``off_threshold``, out-of-fold ``fa_per_24h``, ``false_alarms``, ``seizures_flagged``),
    ``negative_hours``, ``fa_resolution_per_24h``, ``note`` and per-threshold curves.
    """
    from eegssm.scoring.metrics import auroc

    ev = recipe.evaluation
    pp = ev.postprocess
    gap = pp.on_threshold - pp.off_threshold
    sfreq = segments[0].sfreq
    negatives = [s for s in segments if s.kind in ("recording", "preictal")]
    seizures = [s for s in segments if s.kind == "ictal"]
    hours = sum(s.duration for s in negatives) / 3600
    grid = np.linspace(0.0, 1.0, ev.n_thresholds + 2)[1:-1]
    fa = np.zeros(len(grid), dtype=int)
    flagged = np.zeros(len(grid), dtype=int)
    for s in negatives:
        p = probs[key(s)]
        for j, t in enumerate(grid):
            if p.max() < t:
                break
            fa[j] += len(events_at(p, sfreq, t, ev.postprocess))
    for s in seizures:
        p = probs[key(s)]
        for j, t in enumerate(grid):
            if p.max() < t:
                break
            flagged[j] += bool(events_at(p, sfreq, t, ev.postprocess))
    fa_rate = fa / max(hours, 1e-9) * 24
    points = []
    for target in ev.targets_fa_per_24h:
        ok = np.flatnonzero(fa_rate <= target)
        j = int(ok[0]) if ok.size else len(grid) - 1
        end = j  # the run of thresholds with the same out-of-fold result: take its middle
        while end + 1 < len(grid) and fa_rate[end + 1] <= target and flagged[end + 1] == flagged[j]:
            end += 1
        j = (j + end) // 2
        points.append(
            {
                "target_fa_per_24h": float(target),
                "threshold": float(grid[j]),
                "off_threshold": float(max(grid[j] - gap, 0.0)),
                "fa_per_24h": float(fa_rate[j]),
                "false_alarms": int(fa[j]),
                "seizures_flagged": int(flagged[j]),
                "seizures": len(seizures),
                "sensitivity": float(flagged[j] / max(len(seizures), 1)),
                "split": "out-of-fold",
            }
        )
    resolution = 24 / max(hours, 1e-9)
    distinct = len({p["threshold"] for p in points})
    note = (
        f"thresholds chosen out of fold ({ev.folds} folds over subjects and seizures) on "
        f"{hours:.2f} h of real seizure-free EEG ({len(negatives)} recordings); one false alarm "
        f"there is {resolution:.1f} FA/24h, so targets below that resolution all mean 'no false "
        "alarm out of fold'"
    )
    if distinct < len(points):
        note += f"; {len(points)} targets share {distinct} distinct threshold(s): they cannot be "
        note += "told apart with this much data"
    clips = [s for s in segments if s.dataset == "chbmit"]
    y = np.concatenate([np.full(len(probs[key(s)]), s.kind == "ictal") for s in clips] or [[]])
    p = np.concatenate([probs[key(s)] for s in clips] or [[]])
    return {
        "operating_points": points,
        "negative_hours": hours,
        "negative_recordings": len(negatives),
        "fa_resolution_per_24h": resolution,
        "note": note,
        "curve": {
            "thresholds": grid.tolist(),
            "false_alarms": fa.tolist(),
            "seizures_flagged": flagged.tolist(),
        },
        "chbmit_clip_auroc": float(auroc(y, p)) if y.any() and not y.all() else math.nan,
    }


# -- the final model --------------------------------------------------------------------------
def model_metadata(
    model, recipe: RealDetectorRecipe, evidence: dict[str, Any], train_info: dict
) -> dict:
    """``config.json`` of the final model (what ``eegssm detect`` reads)."""
    from eegssm import __version__
    from eegssm.contract import InputSpec

    cfg = recipe.preprocess_config()
    meta = {
        **model.architecture_meta(),
        "preset": recipe.model.preset,
        "core": recipe.model.core,
        "causal": recipe.model.causal,
        "input": {"montage": cfg.montage, "channels": list(_montage_names(cfg.montage))},
        "preprocess": {"preset": "seizure", "config": cfg.model_dump(mode="json")},
        "window_s": cfg.window_s,
        "stride_s": cfg.stride_s,
        "postprocess": asdict(recipe.evaluation.postprocess),
        "operating_points": evidence["operating_points"],
        "operating_points_note": evidence["note"],
        "evidence": {k: v for k, v in evidence.items() if k not in ("operating_points", "curve")},
        "training": train_info,
        "recipe": recipe.model_dump(mode="json"),
        "description": recipe.description,
        "eegssm_version": __version__,
    }
    meta["input"] = InputSpec.from_meta(meta).to_json()  # + channel count, rate and window
    return meta


def _montage_names(name: str) -> tuple[str, ...]:
    from eegssm.preprocessing.montages import get_montage

    return get_montage(name).ch_names


def train_final(
    recipe: RealDetectorRecipe,
    segments: list[Segment],
    bonn,
    evidence: dict[str, Any],
    progress: bool = False,
) -> Path:
    """Train on every segment and write ``OUT/model`` (weights, ``config.json``, model card)."""
    from eegssm import atomic
    from eegssm.train.checkpoint import save_weights, write_json_atomic

    out = Path(recipe.output_dir)
    model, info = train_model(recipe, segments, bonn, out / "final", recipe.optim.seed, progress)
    negatives = [s for s in segments if s.kind != "ictal"]
    info.update(
        recordings=len(segments),
        seizure_clips=sum(s.kind == "ictal" for s in segments),
        negative_hours=sum(s.duration for s in negatives) / 3600,
        subjects=len({(s.dataset, s.subject) for s in segments}),
        torch_threads=torch.get_num_threads(),
    )
    meta = model_metadata(model, recipe, evidence, info)
    final = out / "model"
    final.mkdir(parents=True, exist_ok=True)
    with atomic.together():  # weights and config appear together or not at all
        save_weights(final / "model.safetensors", model)
        write_json_atomic(final / "config.json", meta)
    return final


def train_detector_real(
    recipe: RealDetectorRecipe, progress: bool = True, skip_folds: bool = False
) -> dict[str, Any]:
    """The whole recipe (module docstring). Returns the evidence summary (also in
    ``OUT/evidence.json``)."""
    from eegssm.train.checkpoint import write_json_atomic

    out = Path(recipe.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    segments, bonn = load_corpus(recipe, progress)
    if skip_folds:
        evidence = json.loads((out / "evidence.json").read_text())
    else:
        probs = cross_validate(recipe, segments, bonn, progress)
        evidence = choose_points(recipe, segments, probs)
        write_json_atomic(out / "evidence.json", evidence)
    final = train_final(recipe, segments, bonn, evidence, progress)
    evidence["model_dir"] = str(final)
    evidence["seconds"] = time.perf_counter() - t0
    return evidence


def write_model_card(folder: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``folder/README.md``: what the checkpoint is, its input contract, the data it was
    trained on, its operating points with their out-of-fold evidence, and its limits."""
    from eegssm import atomic
    from eegssm.hub import card_front_matter

    pre = meta["preprocess"]["config"]
    ev = meta.get("evidence", {})
    tr = meta.get("training", {})
    notch = pre.get("notch")
    if pre.get("normalize") == "fixed":
        norm = (
            f"divided by {pre['scale_uv']:g} µV (the amplitude is kept: a seizure is a large "
            f"rhythm), clipped at ±{pre['clip']:g} (±{pre['clip'] * pre['scale_uv']:g} µV)"
        )
    else:
        norm = f"z-score per channel over the whole recording, clipped at ±{pre['clip']:g}"
    ex = (meta.get("recipe") or {}).get("examples") or {}
    snr = ex.get("snr", (1.0, 8.0))
    rows = "\n".join(
        f"| {p['target_fa_per_24h']:g} | {p['threshold']:.3f} | {p['false_alarms']} "
        f"({p['fa_per_24h']:.1f} FA/24h) | {p['seizures_flagged']}/{p['seizures']} |"
        for p in meta["operating_points"]
    )
    text = f"""{card_front_matter()}
# eegssm bundled seizure detector

{meta.get("description", "").strip()}

Not a medical device: a research tool whose evidence is listed below with the size of every set.

## Input contract

- Montage: `{pre["montage"]}`, {len(meta["input"]["channels"])} channels
  ({", ".join(meta["input"]["channels"])}). Referential recordings (any reference, any label
  style: `EEG FP1-REF`, `Fp1`, `FP1-LE`, `Fp1-A1`) are converted by subtraction; bipolar
  recordings (CHB-MIT's chain, exports in derivations) are used directly
  (`eegssm detect --montage auto|referential|bipolar`). Up to {pre["max_missing"]} derivations
  may be missing or flat (below {pre["flat_uv"]} µV RMS): they are left out with a warning.
- Preprocessing: resampled to {pre["sfreq"]:g} Hz, {pre["l_freq"]:g}–{pre["h_freq"]:g} Hz
  band-pass, notch at {notch} Hz, {norm}.
- Inference: windows of {meta["window_s"]:g} s every {meta["stride_s"]:g} s (a shorter recording
  is read whole: a 10-s file gets a decision); per-sample probabilities; events by hysteresis
  ({meta["postprocess"]["on_threshold"] - meta["postprocess"]["off_threshold"]:.2f} below the
  threshold to end), at least {meta["postprocess"]["min_duration_s"]:g} s long.
- Model: `{meta["model"]}` preset `{meta["preset"]}`, core `{meta["core"]}`
  ({"causal" if meta["causal"] else "bidirectional"}).

## Training data

- Seizure-free: PhysioNet eegmat (Zyma et al. 2019, ODC-By; 24 adults, rest and mental
  arithmetic), eegmmidb subject S001 (Schalk et al. 2004, ODC-By; 14 runs), and the 10 s before
  each of the 7 CHB-MIT chb01 seizures (Shoeb 2009, ODC-By): {tr.get("negative_hours", 0):.2f} h,
  {tr.get("subjects", "?")} subjects.
- Real seizures: the first 10 s of the 7 seizures of CHB-MIT patient chb01 (one 11-year-old
  patient).
- Synthetic seizures superimposed on the seizure-free EEG (`eegssm.data.ictal`): evolving
  rhythms, spike-and-wave, low-voltage fast onsets, polyspikes and real intracranial ictal
  waveforms (Bonn set S, Andrzejak et al. 2001, CC BY 4.0), focal onset and spread over the head,
  {snr[0]:g}–{snr[1]:g} times the background; plus muscle bursts, short rhythmic runs and steady
  background rhythms that are not seizures; amplitude augmentation (a gain of
  {ex.get("gain", (1, 1))[0]:g}–{ex.get("gain", (1, 1))[1]:g} per example).
- {tr.get("steps", "?")} steps, {tr.get("seconds", 0) / 60:.0f} min on
  {tr.get("torch_threads", "?")} CPU thread(s); reproduce with
  `scripts/train_default_checkpoint.py` and `configs/detector_real.yaml`.

## Operating points (`--fa-per-24h`)

Chosen out of fold ({ev.get("negative_recordings", "?")} recordings of real seizure-free EEG,
{ev.get("negative_hours", 0):.2f} h, each scored by a model that never saw its subject; chb01
onsets each scored by a model trained without that seizure):

| target FA/24h | threshold | out-of-fold false alarms | chb01 onsets flagged (first 10 s) |
|---|---|---|---|
{rows}

{meta.get("operating_points_note", "")}.

## Limits

- Real seizures of one patient only (chb01); cross-patient performance rests on the synthetic
  seizures. Seizures that look like none of those patterns (subtle, very focal, purely
  electrodecremental) will be missed.
- One false alarm in {ev.get("negative_hours", 0):.2f} h is
  {ev.get("fa_resolution_per_24h", float("nan")):.1f} FA/24h: rates below that are not measured.
- Seizure-free EEG here is mostly awake adults at rest or doing a task; sleep, ICU and neonatal
  EEG and long artefact-rich recordings are not represented.
- The amplitude in µV is part of the input (when `normalize` is `fixed`): a file whose header
  gets the units wrong is misread, and high-amplitude seizure-free EEG (children, sleep) is
  represented only by one child's pre-ictal clips.
- For TUSZ-scale use, train your own detector (README: "Seizure detection on TUSZ").
"""
    return atomic.write_text(Path(folder) / "README.md", text)
