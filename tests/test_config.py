"""The config package: strict YAML loading for every recipe, one place per default, and
``eegssm config show``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from eegssm.cli import main
from eegssm.config import (
    RECIPES,
    ConfigError,
    DetectorRecipe,
    DetectorTrainingConfig,
    EEGM2TrainingConfig,
    FinetuneConfig,
    FinetuneTrainingConfig,
    PretrainConfig,
    TrainConfig,
    TrainingConfig,
    load_config,
    load_recipe,
    parse_config,
    recipe_kind,
    to_yaml,
)
from eegssm.config import base as config_base

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
DETECTOR = {"output_dir": "run", "data": {"cache_dir": "cache"}}


def test_every_shipped_config_loads_and_round_trips():
    """Each file in configs/ loads as its recipe; the effective YAML loads back to the same
    configuration, as the same recipe, with no key unknown."""
    assert {p.name for p in CONFIGS} >= {
        "detector_synthetic.yaml",
        "eegm2_pretrain_cpu.yaml",
        "eegm2_finetune_cpu.yaml",
    }
    for path in CONFIGS:
        config = load_recipe(path)
        again = parse_config(yaml.safe_load(to_yaml(config)), type(config), "round trip")
        assert again == config, path.name
        assert recipe_kind(yaml.safe_load(to_yaml(config))) == config.recipe


@pytest.mark.parametrize(
    "kind, raw, where",
    [
        (DetectorRecipe, {**DETECTOR, "optim": {"max_stepz": 1}}, "optim.max_stepz"),
        (DetectorRecipe, {**DETECTOR, "evaluation": {"postprocess": {"on": 1}}},
         "evaluation.postprocess.on"),
        (DetectorRecipe, {**DETECTOR, "data": {"cache_dir": "c", "generate": {"copiez": 1}}},
         "data.generate.copiez"),
        (PretrainConfig, {"mask": {"spans": 2}}, "mask.spans"),
        (FinetuneConfig, {"train": {"batchsize": 2}}, "train.batchsize"),
        (PretrainConfig, {"outptu_dir": "x"}, "outptu_dir"),
    ],
)  # fmt: skip
def test_unknown_keys_name_the_path_and_the_file(tmp_path, kind, raw, where):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path, kind)
    assert str(path) in str(err.value)
    assert f"{where}: unknown key" in str(err.value)


def test_values_are_checked_in_nested_sections():
    bad = {**DETECTOR, "evaluation": {"postprocess": {"on_threshold": 0.2, "off_threshold": 0.5}}}
    with pytest.raises(ConfigError, match=r"evaluation\.postprocess"):
        parse_config(bad, DetectorRecipe)
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        parse_config({**DETECTOR, "optim": {"lr": 0}}, DetectorRecipe)
    with pytest.raises(ConfigError, match=r"recipe"):
        parse_config({"recipe": "finetune"}, PretrainConfig)


def test_duplicate_keys_and_bad_files_are_errors(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("train:\n  max_steps: 3\n  max_steps: 4\n")
    with pytest.raises(ConfigError, match="duplicate key 'max_steps'"):
        load_config(path, PretrainConfig)
    path.write_text("- a\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path, PretrainConfig)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", PretrainConfig)
    path.write_text("")
    assert load_config(path, PretrainConfig) == PretrainConfig()


def test_overrides_apply_before_validation(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(DETECTOR))
    recipe = load_config(path, DetectorRecipe, {"optim.max_steps": 7, "model.causal": True})
    assert recipe.optim.max_steps == 7 and recipe.model.causal
    assert recipe.optim.lr == DetectorTrainingConfig().lr  # the rest keeps the recipe defaults
    with pytest.raises(ConfigError, match=r"output_dir is not a mapping"):
        load_config(path, DetectorRecipe, {"output_dir.x": 1})


def test_recipe_kind_from_the_recipe_key_or_own_keys():
    assert recipe_kind({"recipe": "detector"}) == "detector"
    assert recipe_kind({"mask": {}}) == "pretrain"
    assert recipe_kind({"head": "fine"}) == "finetune"
    assert recipe_kind({"sampling": {}, "data": {}}) == "detector"
    with pytest.raises(ConfigError, match="cannot tell"):
        recipe_kind({"data": {}})
    with pytest.raises(ConfigError, match="must be one of"):
        recipe_kind({"recipe": "segmenter"})
    assert recipe_kind({"examples": {}, "data": {}}) == "detector_real"
    assert set(RECIPES) == {"detector", "detector_real", "pretrain", "finetune"}


def _own_defaults(cls: type[BaseModel]) -> dict:
    """Fields whose default ``cls`` itself declares (not inherited)."""
    own = cls.__dict__.get("__annotations__", {})
    return {name: cls.model_fields[name].default for name in own if name in cls.model_fields}


@pytest.mark.parametrize(
    "cls", [TrainConfig, EEGM2TrainingConfig, FinetuneTrainingConfig, DetectorTrainingConfig]
)
def test_each_training_default_lives_in_one_place(cls):
    """A product's training section redeclares only the defaults it changes: no value is
    repeated from the section it extends, and the trainer adds run-time fields only."""
    parent = cls.__mro__[1]
    own = _own_defaults(cls)
    assert own, cls.__name__
    repeated = {k: v for k, v in own.items() if k in parent.model_fields and
                parent.model_fields[k].default == v}  # fmt: skip
    assert repeated == {}, f"{cls.__name__} repeats {parent.__name__}'s defaults {repeated}"
    if cls is TrainConfig:
        assert not set(own) & set(TrainingConfig.model_fields)


def test_trainer_and_recipes_share_the_training_section():
    """The trainer's settings are the recipe section plus run-time fields; the finetune section
    accepts a pretrain-style object with all of its values."""
    from eegssm.train.trainer import TrainConfig as TrainerConfig

    assert TrainerConfig is TrainConfig and issubclass(TrainConfig, TrainingConfig)
    section = DetectorTrainingConfig(max_steps=9)
    run = TrainConfig(**section.model_dump(), metric="score", device="cpu")
    assert (run.max_steps, run.lr, run.metric) == (9, section.lr, "score")
    with pytest.raises(ValueError):
        TrainConfig(max_stepz=3)
    ft = FinetuneConfig(train=EEGM2TrainingConfig(max_steps=5))
    assert isinstance(ft.train, FinetuneTrainingConfig) and ft.train.max_steps == 5
    assert FinetuneConfig(train={"max_steps": 5}).train.lr == FinetuneTrainingConfig().lr


def test_config_show_prints_the_effective_config(tmp_path, capsys):
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(DETECTOR))
    assert main(["config", "show", str(path), "--set", "optim.max_steps=11"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {path}: detector recipe")
    shown = yaml.safe_load(out)
    assert shown["optim"]["max_steps"] == 11
    assert shown["evaluation"]["postprocess"]["on_threshold"] == 0.86  # defaults filled in
    expected = load_config(path, DetectorRecipe, {"optim.max_steps": 11})
    assert parse_config(shown, DetectorRecipe) == expected


def test_config_show_errors_are_one_line_per_problem(tmp_path, capsys):
    path = tmp_path / "p.yaml"
    path.write_text("train: {max_stepz: 1}\n")
    assert main(["config", "show", str(path)]) == 2
    assert "cannot tell which recipe" in capsys.readouterr().err
    assert main(["config", "show", str(path), "--recipe", "pretrain"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "train.max_stepz: unknown key" in err
    assert main(["config", "show", str(tmp_path)]) == 2
    with pytest.raises(SystemExit) as exit_:
        main(["config", "show", str(path), "--set", "novalue"])
    assert exit_.value.code == 2


def test_yaml_reader_is_a_safe_loader():
    assert issubclass(config_base._UniqueKeyLoader, yaml.SafeLoader)


def test_config_package_is_light():
    """``eegssm config show`` and YAML validation need neither torch nor numpy."""
    import subprocess
    import sys

    code = "import sys, eegssm.config; print(sorted({'torch', 'numpy', 'mne'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_resolves_and_sections_load_on_first_use():
    """``eegssm.config`` imports its sections on first use: every name of ``__all__`` resolves
    to its section's object, and importing the post-processing settings (what ``eegssm
    detect`` needs at start-up) builds no other section."""
    import ast
    import importlib
    import subprocess
    import sys

    import eegssm.config as config

    assert sorted(config.__all__) == sorted(config._MODULE_OF)
    for name in config.__all__:
        module = importlib.import_module(f"eegssm.config.{config._MODULE_OF[name]}")
        assert getattr(config, name) is getattr(module, name)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        config.Nope  # noqa: B018
    code = (
        "import sys; from eegssm.config import PostprocessConfig; "
        "print(sorted(m for m in sys.modules if m.startswith('eegssm.config.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert set(ast.literal_eval(out.stdout)) <= {"eegssm.config.base", "eegssm.config.postprocess"}
