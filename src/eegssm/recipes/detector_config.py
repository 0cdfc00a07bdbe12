"""The seizure-detector training recipe's YAML configuration, validated with pydantic.

Every section forbids unknown keys, so a typo fails at load time with the key's path::

    data:       corpus (optional generation), cache, splits
    model:      SeizureDetector preset, core, causal, architecture overrides
    sampling:   BalancedSampler shares, training crops, batch size
    loss:       focal loss alpha / gamma
    optim:      Trainer settings (AdamW, warm-up + cosine, clipping, evaluation, early stopping)
    evaluation: dev inference stride, post-processing, operating-point targets

Relative paths are resolved against the current working directory, not the YAML file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from eegssm.recipes.synthetic_corpus import CorpusConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataSection(_Strict):
    """Where the windows come from.

    Attributes:
        corpus_dir: EDF + csv_bi corpus folder; generated with ``generate`` when given and the
            folder has no ``corpus.json`` yet (None: use ``cache_dir`` as it is).
        generate: synthetic-corpus settings (:class:`CorpusConfig`), or None.
        cache_dir: window cache (built from ``corpus_dir`` with ``preprocess`` when missing or
            stale; :func:`eegssm.data.build_cache` skips recordings already cached).
        preprocess: preprocessing preset name (``"seizure"``: 19 ch, 256 Hz, 60 s / 10 s).
        train_split, dev_split: split names in the cache (TUSZ layout ``<split>/...``).
        fractions, split_seed: when the cache has no splits, subjects are assigned with
            :func:`eegssm.data.split_by_subject` (``train_split`` / ``dev_split`` must be keys).
        build_workers: worker processes for the cache build.
    """

    corpus_dir: str | None = None
    generate: CorpusConfig | None = None
    cache_dir: str
    preprocess: Literal["seizure"] = "seizure"
    train_split: str = "train"
    dev_split: str = "dev"
    fractions: dict[str, float] = {"train": 0.7, "dev": 0.15, "eval": 0.15}
    split_seed: int = 0
    build_workers: int = Field(1, ge=1)


class ModelSection(_Strict):
    """``SeizureDetector.from_preset(preset, core=core, causal=causal, **overrides)``."""

    preset: Literal["fast", "bgb-v4"] = "fast"
    core: Literal["mamba2", "gated_deltanet"] = "mamba2"
    causal: bool = False
    overrides: dict[str, Any] = {}

    @field_validator("overrides")
    @classmethod
    def _known_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        from dataclasses import fields

        from eegssm.models.detector import DetectorConfig

        names = {f.name for f in fields(DetectorConfig)} - {"core", "causal"}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"unknown DetectorConfig field(s) {unknown}; known: {sorted(names)}")
        return value


class SamplingSection(_Strict):
    """Balanced sampling (:class:`eegssm.data.BalancedSampler`) and training crops.

    Attributes:
        partial, full, background_ratio: the sampler's shares per epoch.
        batch_size: windows per step.
        crop_s: train on random crops of this length (s) from each cached window (None: the
            whole window); crops are cheaper and the model is length-agnostic.
        seizure_crop_prob: probability that a crop of a window holding seizure samples is
            centred on a random seizure sample (the rest are uniform).
        num_workers: DataLoader workers.
    """

    partial: float = Field(1.0, ge=0)
    full: float = Field(0.5, ge=0)
    background_ratio: float = Field(2.0, ge=0)
    batch_size: int = Field(8, ge=1)
    crop_s: float | None = Field(30.0, gt=0)
    seizure_crop_prob: float = Field(0.5, ge=0, le=1)
    num_workers: int = Field(0, ge=0)


class LossSection(_Strict):
    """Focal loss (Lin et al. 2017) on per-sample logits, masked on padding; alpha 0.5, gamma 2 as
    in Brain-Go-Brr v4."""

    alpha: float | None = Field(0.5, ge=0, le=1)
    gamma: float = Field(2.0, ge=0)


class OptimSection(_Strict):
    """Fields of :class:`eegssm.train.trainer.TrainConfig` that a recipe sets.

    The early-stopping metric is fixed by the recipe (``score``: OVERLAP sensitivity at
    ``evaluation.stop_fa_per_24h`` on dev, AUROC as tie-break; AUROC alone without dev seizures).
    """

    max_steps: int = Field(400, ge=1)
    lr: float = Field(2e-3, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    warmup_steps: int = Field(30, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    eval_every: int = Field(100, ge=1)
    patience: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    max_bad_steps: int = Field(10, ge=1)
    amp: bool = True
    seed: int = 0


class EvaluationSection(_Strict):
    """Dev evaluation and operating points.

    Attributes:
        stride_s: inference stride on dev recordings (s); overlapping windows are averaged.
        max_recordings: evaluate at most this many dev recordings during training (None: all).
        stop_fa_per_24h: FA budget of the early-stopping sensitivity.
        targets_fa_per_24h: operating points stored in the checkpoint.
        n_thresholds: thresholds swept on (0, 1) for the operating points.
        postprocess: :class:`eegssm.postprocess.PostprocessConfig` fields (thresholds are set
            per operating point; the off-threshold keeps the configured gap below it).
        batch_size: windows per forward pass at inference.
    """

    stride_s: float = Field(30.0, gt=0)
    max_recordings: int | None = Field(None, ge=1)
    stop_fa_per_24h: float = Field(10.0, gt=0)
    targets_fa_per_24h: list[float] = [10.0, 5.0, 2.5, 1.0]
    n_thresholds: int = Field(99, ge=2)
    postprocess: dict[str, Any] = {}
    batch_size: int = Field(8, ge=1)

    @field_validator("postprocess")
    @classmethod
    def _valid_postprocess(cls, value: dict[str, Any]) -> dict[str, Any]:
        from eegssm.postprocess import PostprocessConfig

        PostprocessConfig(**value)  # raises TypeError / ValueError on a bad key or value
        return value


class DetectorRecipe(_Strict):
    """The whole recipe (``eegssm train CONFIG.yaml``).

    Attributes:
        recipe: must be ``"detector"``.
        output_dir: run folder: ``checkpoints/{last,best}``, ``train_log.jsonl``, ``model/``
            (the final model: ``model.safetensors`` + ``config.json`` with operating points).
        description: free text stored in the model's config.
    """

    recipe: Literal["detector"] = "detector"
    output_dir: str
    description: str = ""
    data: DataSection
    model: ModelSection = ModelSection()
    sampling: SamplingSection = SamplingSection()
    loss: LossSection = LossSection()
    optim: OptimSection = OptimSection()
    evaluation: EvaluationSection = EvaluationSection()


class RecipeConfigError(ValueError):
    """A recipe file is unreadable or invalid; the message names the file and the bad keys."""


def load_recipe(path: str | Path, overrides: dict[str, Any] | None = None) -> DetectorRecipe:
    """Read and validate a detector recipe YAML file.

    Args:
        path: the YAML file.
        overrides: top-level or dotted keys replacing values (``{"optim.max_steps": 5}``).

    Raises:
        RecipeConfigError: missing file, invalid YAML, unknown key, wrong type.
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise RecipeConfigError(f"{path}: file not found") from err
    except yaml.YAMLError as err:
        raise RecipeConfigError(f"{path}: invalid YAML ({err})") from err
    if not isinstance(raw, dict):
        raise RecipeConfigError(f"{path}: expected a mapping at the top level")
    for dotted, value in (overrides or {}).items():
        node = raw
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return validate_recipe(raw, source=str(path))


def validate_recipe(raw: dict[str, Any], source: str = "<config>") -> DetectorRecipe:
    """Validate a recipe mapping; errors list each bad key as ``a.b.c: message``."""
    try:
        return DetectorRecipe.model_validate(raw)
    except ValidationError as err:
        lines = []
        for e in err.errors():
            where = ".".join(str(p) for p in e["loc"]) or "(top level)"
            msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
            lines.append(f"  {where}: {msg}")
        raise RecipeConfigError(f"{source}: invalid detector recipe\n" + "\n".join(lines)) from None
