"""Typed configuration of both products, loaded strictly from YAML.

Every section is a pydantic model that forbids unknown keys; each default is defined once, in
the section that owns it (a product that needs other defaults subclasses the section).

- ``base``: :class:`StrictModel`, :class:`ConfigError`, :func:`load_config`,
  :func:`parse_config`, YAML reading (duplicate keys refused), dotted overrides, :func:`to_yaml`;
- ``data``: :class:`EEGM2DataConfig` (recordings, labels, windows), :class:`CorpusConfig`
  (synthetic seizure corpus), :class:`DetectorDataConfig` (corpus, cache, splits),
  :class:`SamplingConfig`;
- ``model``: :class:`EEGM2ModelConfig`, :class:`DetectorModelConfig` (preset + overrides);
- ``training``: :class:`TrainingConfig` (with per-product defaults), :class:`TrainConfig` (what
  the trainer runs with), losses, masking;
- ``postprocess``: :class:`PostprocessConfig` (probability trace → events);
- ``evaluation``: :class:`DetectorEvaluationConfig` (dev inference, operating-point targets);
- ``recipes``: :class:`PretrainConfig`, :class:`FinetuneConfig`, :class:`DetectorRecipe`;
  :func:`load_recipe` reads any of them (by ``recipe:``).

``eegssm config show CONFIG.yaml`` prints a file's effective configuration (defaults filled in).
"""

from eegssm.config.base import (
    ConfigError,
    StrictModel,
    apply_overrides,
    load_config,
    parse_config,
    read_yaml,
    to_yaml,
)
from eegssm.config.data import (
    EEGMAT_DIR,
    SPLIT_FRACTIONS,
    CorpusConfig,
    DetectorDataConfig,
    EEGM2DataConfig,
    ExamplesConfig,
    RealDataConfig,
    SamplingConfig,
)
from eegssm.config.evaluation import (
    TARGETS_FA_PER_24H,
    DetectorEvaluationConfig,
    RealDetectorEvaluationConfig,
)
from eegssm.config.model import DetectorModelConfig, EEGM2ModelConfig
from eegssm.config.postprocess import PostprocessConfig
from eegssm.config.recipes import (
    BASELINE_HEADS,
    RECIPES,
    DetectorRecipe,
    FinetuneConfig,
    PretrainConfig,
    RealDetectorRecipe,
    load_recipe,
    recipe_kind,
)
from eegssm.config.training import (
    DetectorTrainingConfig,
    EEGM2TrainingConfig,
    FinetuneTrainingConfig,
    FocalLossConfig,
    MaskConfig,
    RealDetectorTrainingConfig,
    ReconstructionLossConfig,
    TrainConfig,
    TrainingConfig,
)

__all__ = [
    "BASELINE_HEADS",
    "EEGMAT_DIR",
    "RECIPES",
    "SPLIT_FRACTIONS",
    "TARGETS_FA_PER_24H",
    "ConfigError",
    "CorpusConfig",
    "DetectorDataConfig",
    "DetectorEvaluationConfig",
    "DetectorModelConfig",
    "DetectorRecipe",
    "DetectorTrainingConfig",
    "EEGM2DataConfig",
    "EEGM2ModelConfig",
    "EEGM2TrainingConfig",
    "ExamplesConfig",
    "FinetuneConfig",
    "FinetuneTrainingConfig",
    "FocalLossConfig",
    "MaskConfig",
    "PostprocessConfig",
    "PretrainConfig",
    "RealDataConfig",
    "RealDetectorEvaluationConfig",
    "RealDetectorRecipe",
    "RealDetectorTrainingConfig",
    "ReconstructionLossConfig",
    "SamplingConfig",
    "StrictModel",
    "TrainConfig",
    "TrainingConfig",
    "apply_overrides",
    "load_config",
    "load_recipe",
    "parse_config",
    "read_yaml",
    "recipe_kind",
    "to_yaml",
]
