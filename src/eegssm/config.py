"""YAML recipe configurations, validated by pydantic.

Every model forbids unknown keys (``extra="forbid"``), so a typo in a YAML file is an error that
names the key, e.g. ``train.max_stepz: Extra inputs are not permitted``. Units: seconds and Hz;
paths are relative to the working directory.

- :class:`PretrainConfig`: self-supervised EEGM2 reconstruction (optionally masked).
- :class:`FinetuneConfig`: a classification head (Light, Fine, linear probe, or the Fine
  network from scratch, or the EEGNet baseline) on labelled recordings.

:func:`load_config` reads a YAML file into one of them with a readable error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Strict):
    """Which recordings, how they are labelled and split, how they are cut.

    Attributes:
        data_dir: folder searched (recursively) for ``pattern``.
        pattern: glob of recordings (EDF/BDF).
        labels: filename-stem suffix → class index, e.g. ``{"_1": 0, "_2": 1}`` for eegmat
            (rest vs mental arithmetic). Recordings matching no suffix are unlabelled: used for
            pretraining only.
        subject_regex: regular expression whose first group, applied to the file stem, is the
            subject id (splits are by subject).
        window_s, stride_s: window length and stride in seconds (stride default = window).
        sfreq: rate after resampling (Hz); the ``eegm2`` preprocessing preset otherwise
            (19 referential channels, per-recording 95th-percentile scaling).
        val_subjects: subjects held out for evaluation (early stopping, metrics); empty: none.
        max_recordings: use only the first N recordings (sorted; for smoke tests).
    """

    data_dir: str = "../shared/data/eegmat"
    pattern: str = "*.edf"
    labels: dict[str, int] = Field(default_factory=lambda: {"_1": 0, "_2": 1})
    subject_regex: str = r"^(.*?)(?:_\d+)?$"
    window_s: float = Field(10.0, gt=0)
    stride_s: float | None = Field(None, gt=0)
    sfreq: float = Field(128.0, gt=0)
    val_subjects: list[str] = Field(default_factory=list)
    max_recordings: int | None = Field(None, ge=1)


class ModelConfig(_Strict):
    """EEGM2 architecture: a preset plus the ablation switches."""

    preset: Literal["cpu", "paper"] = "cpu"
    multi_branch: bool = True
    core: Literal["mamba2", "attention"] = "mamba2"


class MaskConfig(_Strict):
    """Masked reconstruction: hide random spans and predict them.

    Attributes:
        enabled: off = plain reconstruction of the whole, visible input.
        span_s: length of each hidden span (s).
        ratio: expected fraction of hidden samples, in (0, 1).
        loss_on: ``"hidden"`` (temporal term on hidden samples only; the spectral term always
            covers the whole window) or ``"all"`` samples.
        per_channel: draw spans per channel instead of the same spans on all channels.
    """

    enabled: bool = False
    span_s: float = Field(1.0, gt=0)
    ratio: float = Field(0.5, gt=0, lt=1)
    loss_on: Literal["hidden", "all"] = "hidden"
    per_channel: bool = False


class LossConfig(_Strict):
    """Temporal–spectral loss weights ``alpha·L1 + beta·spectral`` (beta 0 = the L1 ablation)."""

    alpha: float = Field(1.0, ge=0)
    beta: float = Field(1.0, ge=0)
    fft_norm: Literal["backward", "ortho", "forward"] = "backward"

    @model_validator(mode="after")
    def _some_weight(self) -> LossConfig:
        if self.alpha == 0 and self.beta == 0:
            raise ValueError("alpha and beta are both 0: the loss would be constant")
        return self


class OptimConfig(_Strict):
    """Optimisation (``eegssm.train.TrainConfig`` fields plus the batch size)."""

    max_steps: int = Field(300, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(5e-4, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    schedule: Literal["onecycle", "cosine", "constant"] = "onecycle"
    warmup_steps: int = Field(20, ge=0)
    grad_clip: float = Field(1.0, ge=0)
    eval_every: int = Field(100, ge=0)
    patience: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(50, ge=1)
    seed: int = 0


class PretrainConfig(_Strict):
    """``eegssm pretrain``: EEGM2 reconstruction pretraining."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    mask: MaskConfig = Field(default_factory=MaskConfig)
    loss: LossConfig = Field(default_factory=LossConfig)
    train: OptimConfig = Field(default_factory=OptimConfig)
    output_dir: str = "runs/eegm2_pretrain"
    device: str = "cpu"


class FinetuneConfig(_Strict):
    """``eegssm finetune``: a classifier on labelled recordings.

    Attributes:
        head: ``"light"`` (frozen encoder, statistics + MLP), ``"fine"`` (whole encoder and
            mediator trained), ``"probe"`` (frozen encoder, linear layer) or ``"eegnet"`` (the
            EEGNet baseline; ``pretrained`` must be empty).
        pretrained: checkpoint folder of a pretraining run (``OUTPUT/best`` or ``OUTPUT/last``),
            or None to start from random weights (``model`` then gives the architecture).
        class_weights: ``"balanced"`` weights the cross-entropy by inverse class frequency (the
            training windows are imbalanced, e.g. 3:1 rest:task on eegmat); None: unweighted.
    """

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    head: Literal["light", "fine", "probe", "eegnet"] = "fine"
    pretrained: str | None = None
    class_weights: Literal["balanced"] | None = "balanced"
    train: OptimConfig = Field(
        default_factory=lambda: OptimConfig(max_steps=200, lr=1e-3, eval_every=50)
    )
    output_dir: str = "runs/eegm2_finetune"
    device: str = "cpu"

    @model_validator(mode="after")
    def _check_head(self) -> FinetuneConfig:
        if self.head == "eegnet" and self.pretrained:
            raise ValueError("head 'eegnet' is a baseline without pretraining: set pretrained null")
        if self.head in ("light", "probe") and not self.pretrained:
            raise ValueError(f"head {self.head!r} freezes the encoder: it needs `pretrained`")
        return self


class ConfigError(ValueError):
    """A configuration file is unreadable or invalid; the message names the file and keys."""


def _format(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {where}: {e['msg']}")
    return "\n".join(lines)


def parse_config(raw: dict | None, kind: type[BaseModel], source: str = "config") -> BaseModel:
    """Validate a mapping as ``kind``; raises :class:`ConfigError` listing every bad key."""
    try:
        return kind.model_validate(raw or {})
    except ValidationError as err:
        raise ConfigError(f"{source}: invalid {kind.__name__}:\n{_format(err)}") from None


def load_config(path: str | Path, kind: type[BaseModel]) -> BaseModel:
    """Read a YAML file as ``kind`` (``PretrainConfig`` or ``FinetuneConfig``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"{path}: cannot read YAML ({err})") from None
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(raw).__name__}")
    return parse_config(raw, kind, str(path))
