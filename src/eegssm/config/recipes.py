"""The top-level configurations, one per recipe: ``recipe: pretrain | finetune | detector``.

A YAML file names its recipe in ``recipe:``; files without it (older EEGM2 configs) are
recognised by the keys only one recipe has (:func:`recipe_kind`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from eegssm.config.base import ConfigError, StrictModel, apply_overrides, parse_config, read_yaml
from eegssm.config.data import (
    DetectorDataConfig,
    EEGM2DataConfig,
    ExamplesConfig,
    RealDataConfig,
    SamplingConfig,
)
from eegssm.config.evaluation import DetectorEvaluationConfig, RealDetectorEvaluationConfig
from eegssm.config.model import DetectorModelConfig, EEGM2ModelConfig
from eegssm.config.training import (
    DetectorTrainingConfig,
    EEGM2TrainingConfig,
    FinetuneTrainingConfig,
    FocalLossConfig,
    MaskConfig,
    RealDetectorTrainingConfig,
    ReconstructionLossConfig,
)


class PretrainConfig(StrictModel):
    """``eegssm pretrain``: EEGM2 reconstruction pretraining (optionally masked)."""

    recipe: Literal["pretrain"] = "pretrain"
    data: EEGM2DataConfig = Field(default_factory=EEGM2DataConfig)
    model: EEGM2ModelConfig = Field(default_factory=EEGM2ModelConfig)
    mask: MaskConfig = Field(default_factory=MaskConfig)
    loss: ReconstructionLossConfig = Field(default_factory=ReconstructionLossConfig)
    train: EEGM2TrainingConfig = Field(default_factory=EEGM2TrainingConfig)
    output_dir: str = "runs/eegm2_pretrain"
    device: str = "cpu"


#: Heads that are baselines of their own (no EEGM2 encoder).
BASELINE_HEADS = ("eegnet", "shallow")


class FinetuneConfig(StrictModel):
    """``eegssm finetune``: a classifier on labelled recordings.

    Attributes:
        head: ``"light"`` (frozen encoder, statistics + MLP), ``"fine"`` (whole encoder and
            mediator trained), ``"probe"`` (frozen encoder, linear layer), or a baseline without
            pretraining (``pretrained`` must be empty): ``"eegnet"`` (EEGNet-8,2) or
            ``"shallow"`` (ShallowFBCSPNet).
        pretrained: checkpoint folder of a pretraining run (``OUTPUT/best`` or ``OUTPUT/last``),
            or None to start from random weights (``model`` then gives the architecture).
        class_weights: ``"balanced"`` weights the cross-entropy by inverse class frequency (the
            training windows are imbalanced, e.g. 3:1 rest:task on eegmat); None: unweighted.
        solver: ``"adamw"`` trains the head with the optimiser of ``train``; ``"logreg"`` (head
            ``probe`` only: a linear layer on frozen features) fits that layer as an
            L2-regularised logistic regression, its strength chosen by subject-wise
            cross-validation inside the training subjects (convex: no steps, no learning rate;
            ``train`` gives only the seed of the inner folds).
        band_power: head ``probe`` only: feed the linear layer each input channel's log
            relative band power (6 bands, 1-45 Hz, Welch) beside the encoder's time-averaged
            features (``eegssm.models.band_power``); the checkpoint computes them itself.
    """

    recipe: Literal["finetune"] = "finetune"
    data: EEGM2DataConfig = Field(default_factory=EEGM2DataConfig)
    model: EEGM2ModelConfig = Field(default_factory=EEGM2ModelConfig)
    head: Literal["light", "fine", "probe", "eegnet", "shallow"] = "fine"
    pretrained: str | None = None
    class_weights: Literal["balanced"] | None = "balanced"
    solver: Literal["adamw", "logreg"] = "adamw"
    band_power: bool = False
    train: FinetuneTrainingConfig = Field(default_factory=FinetuneTrainingConfig)
    output_dir: str = "runs/eegm2_finetune"
    device: str = "cpu"

    @field_validator("train", mode="before")
    @classmethod
    def _any_training(cls, value: Any) -> Any:
        """Accept an :class:`EEGM2TrainingConfig` object as well (all its values taken)."""
        return value.model_dump() if isinstance(value, BaseModel) else value

    @model_validator(mode="after")
    def _check_head(self) -> FinetuneConfig:
        if self.head in BASELINE_HEADS and self.pretrained:
            raise ValueError(
                f"head {self.head!r} is a baseline without pretraining: set pretrained null"
            )
        if self.head in ("light", "probe") and not self.pretrained:
            raise ValueError(f"head {self.head!r} freezes the encoder: it needs `pretrained`")
        if self.solver == "logreg" and self.head != "probe":
            raise ValueError(
                f"solver 'logreg' fits a linear layer on frozen features: it needs head 'probe', "
                f"not {self.head!r}"
            )
        if self.band_power and self.head != "probe":
            raise ValueError(
                f"band_power feeds the probe's linear layer: it needs head 'probe', "
                f"not {self.head!r}"
            )
        return self


class DetectorRecipe(StrictModel):
    """``eegssm train``: the seizure detector.

    Sections: ``data`` (corpus, optional generation, cache, splits), ``model`` (preset, core,
    causal, architecture overrides), ``sampling`` (balanced windows, crops, batch size), ``loss``
    (focal), ``optim`` (the trainer), ``evaluation`` (dev inference, post-processing,
    operating-point targets).

    Attributes:
        recipe: ``"detector"``.
        output_dir: run folder: ``checkpoints/{last,best}``, ``train_log.jsonl``, ``model/``
            (the final model: ``model.safetensors`` + ``config.json`` with operating points).
        description: free text stored in the model's config.
    """

    recipe: Literal["detector"] = "detector"
    output_dir: str
    description: str = ""
    data: DetectorDataConfig
    model: DetectorModelConfig = Field(default_factory=DetectorModelConfig)
    sampling: SamplingConfig = Field(default_factory=SamplingConfig)
    loss: FocalLossConfig = Field(default_factory=FocalLossConfig)
    optim: DetectorTrainingConfig = Field(default_factory=DetectorTrainingConfig)
    evaluation: DetectorEvaluationConfig = Field(default_factory=DetectorEvaluationConfig)

    @model_validator(mode="after")
    def _data_under_output(self) -> DetectorRecipe:
        """Corpus and cache default to folders of the run (``OUTPUT/corpus``, ``OUTPUT/cache``):
        training writes only under ``output_dir`` unless the recipe names other folders."""
        data = self.data
        if data.cache_dir is None:
            data.cache_dir = str(Path(self.output_dir) / "cache")
        if data.corpus_dir is None and data.generate is not None:
            data.corpus_dir = str(Path(self.output_dir) / "corpus")
        return self


class RealDetectorRecipe(StrictModel):
    """``eegssm train``: the bundled seizure detector, from real EEG (``recipe: detector_real``;
    :mod:`eegssm.recipes.detector_real`).

    Sections: ``data`` (development corpora, preprocessing), ``examples`` (the training mixture),
    ``model``, ``loss`` (focal), ``optim`` (fixed steps), ``evaluation`` (folds, operating
    points).

    Attributes:
        output_dir: run folder: ``folds/<i>/`` (checkpoints, out-of-fold probabilities),
            ``evidence.json``, ``final/`` and ``model/`` (the final model with its model card).
        description: free text stored in the model's config and card.
    """

    recipe: Literal["detector_real"] = "detector_real"
    output_dir: str
    description: str = ""
    data: RealDataConfig = Field(default_factory=RealDataConfig)
    examples: ExamplesConfig = Field(default_factory=ExamplesConfig)
    model: DetectorModelConfig = Field(default_factory=DetectorModelConfig)
    loss: FocalLossConfig = Field(default_factory=FocalLossConfig)
    optim: RealDetectorTrainingConfig = Field(default_factory=RealDetectorTrainingConfig)
    evaluation: RealDetectorEvaluationConfig = Field(default_factory=RealDetectorEvaluationConfig)

    def preprocess_config(self):
        """The ``PreprocessConfig`` of ``data.preprocess`` over the ``seizure`` preset."""
        from eegssm.preprocessing.pipeline import get_preset

        over = {k: tuple(v) if isinstance(v, list) else v for k, v in self.data.preprocess.items()}
        return get_preset("seizure", **over)


#: ``recipe:`` value → configuration class.
RECIPES: dict[str, type[StrictModel]] = {
    "pretrain": PretrainConfig,
    "finetune": FinetuneConfig,
    "detector": DetectorRecipe,
    "detector_real": RealDetectorRecipe,
}

#: Top-level keys only one recipe has (recognises files without ``recipe:``).
_OWN_KEYS = {
    "pretrain": {"mask"},
    "finetune": {"head", "pretrained", "class_weights"},
    "detector": {"sampling", "optim", "evaluation", "description"},
    "detector_real": {"examples"},
}


def recipe_kind(raw: dict[str, Any], source: str = "config") -> str:
    """The recipe of a configuration mapping: its ``recipe:`` value, else the one recipe whose
    own keys it uses.

    Raises:
        ConfigError: unknown ``recipe:`` value, or no way to tell.
    """
    kind = raw.get("recipe")
    if kind is not None:
        if kind not in RECIPES:
            raise ConfigError(f"{source}: recipe must be one of {sorted(RECIPES)}, got {kind!r}")
        return kind
    hits = [k for k, keys in _OWN_KEYS.items() if keys & raw.keys()]
    if len(hits) != 1:
        raise ConfigError(
            f"{source}: cannot tell which recipe this is; add `recipe: "
            + " | ".join(sorted(RECIPES))
            + "` at the top level"
        )
    return hits[0]


def load_recipe(
    path: str | Path, overrides: dict[str, Any] | None = None, kind: str | None = None
) -> StrictModel:
    """Read any recipe file (:func:`recipe_kind`, or ``kind``) into its configuration class,
    with dotted-key ``overrides`` applied first.

    Raises:
        ConfigError: unreadable or invalid file (the message names the file and keys).
    """
    raw = apply_overrides(read_yaml(path), overrides)
    kind = kind or recipe_kind(raw, str(path))
    return parse_config(raw, RECIPES[kind], str(path))
