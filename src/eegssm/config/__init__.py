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

import importlib

#: Where each public name lives. The submodules are imported on first use (PEP 562): a command
#: that needs one section (``eegssm detect``: the post-processing settings) does not build the
#: pydantic classes of every other section at start-up.
_WHERE = {
    "base": ("ConfigError StrictModel apply_overrides load_config parse_config read_yaml to_yaml"),
    "data": (
        "EEGMAT_DIR SPLIT_FRACTIONS CorpusConfig DetectorDataConfig EEGM2DataConfig "
        "ExamplesConfig RealDataConfig SamplingConfig"
    ),
    "evaluation": "TARGETS_FA_PER_24H DetectorEvaluationConfig RealDetectorEvaluationConfig",
    "model": "DetectorModelConfig EEGM2ModelConfig",
    "postprocess": "PostprocessConfig",
    "recipes": (
        "BASELINE_HEADS RECIPES DetectorRecipe FinetuneConfig PretrainConfig RealDetectorRecipe "
        "load_recipe recipe_kind"
    ),
    "training": (
        "DetectorTrainingConfig EEGM2TrainingConfig FinetuneTrainingConfig FocalLossConfig "
        "MaskConfig RealDetectorTrainingConfig ReconstructionLossConfig TrainConfig "
        "TrainingConfig"
    ),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names.split()}


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULE_OF])


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
