"""Training settings: the optimisation section of every recipe, the trainer's run settings, and
the training objectives (losses, masking).

:class:`TrainingConfig` holds what a YAML recipe may set and the generic defaults (each in one
place); a product whose recipe needs other defaults subclasses it and overrides only those
(:class:`EEGM2TrainingConfig`, :class:`FinetuneTrainingConfig`,
:class:`DetectorTrainingConfig`). :class:`TrainConfig` adds what a recipe decides at run time
(metric, folders, device, progress) and is what :class:`eegssm.train.trainer.Trainer` takes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from eegssm.config.base import NonNegFloat, NonNegInt, PosFloat, PosInt, StrictModel

Schedule = Literal["cosine", "onecycle", "constant"]


class TrainingConfig(StrictModel):
    """Optimisation settings; steps count optimizer updates (one batch each).

    Attributes:
        max_steps: optimizer updates in all.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW decay (never on SSM parameters, biases, norms).
        schedule: ``"cosine"`` (linear warm-up, then cosine to 0), ``"onecycle"`` (PyTorch's
            ``OneCycleLR``; ``warmup_steps`` unused) or ``"constant"``.
        warmup_steps: warm-up updates of the cosine schedule.
        grad_clip: global gradient-norm clip (0: none).
        eval_every: evaluate every this many updates (0: never).
        patience: evaluations without improvement before stopping early (None: never).
        checkpoint_every: save ``last`` every this many updates (0: only at the end).
        max_bad_steps: consecutive non-finite steps (skipped) before the run stops.
        amp: bfloat16 autocast on CUDA (ignored on CPU).
        seed: torch seed of the run.
    """

    max_steps: PosInt = 1000
    lr: PosFloat = 1e-3
    weight_decay: NonNegFloat = 1e-2
    schedule: Schedule = "cosine"
    warmup_steps: NonNegInt = 50
    grad_clip: NonNegFloat = 1.0
    eval_every: NonNegInt = 200
    patience: PosInt | None = None
    checkpoint_every: NonNegInt = 200
    max_bad_steps: PosInt = 10
    amp: bool = True
    seed: int = 0


class TrainConfig(TrainingConfig):
    """What :class:`eegssm.train.trainer.Trainer` runs with: a recipe's :class:`TrainingConfig`
    plus the settings the recipe decides at run time.

    Attributes:
        metric: key of ``evaluate()``'s dict that picks the best checkpoint and early stopping
            (None: the first key).
        mode: ``"max"`` or ``"min"`` for that metric.
        checkpoint_dir: folder of ``last`` / ``best`` and ``train_log.jsonl`` (None: none).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        progress: show a progress bar.
        find_unused_parameters: DDP only: some parameters get no gradient on some steps.
    """

    metric: str | None = None
    mode: Literal["max", "min"] = "max"
    checkpoint_dir: str | None = None
    device: str = "cpu"
    progress: bool = True
    find_unused_parameters: bool = False


class EEGM2TrainingConfig(TrainingConfig):
    """``train`` of ``eegssm pretrain``: one-cycle schedule, windows per step in ``batch_size``."""

    max_steps: PosInt = 300
    lr: PosFloat = 5e-4
    schedule: Schedule = "onecycle"
    warmup_steps: NonNegInt = 20
    eval_every: NonNegInt = 100
    checkpoint_every: NonNegInt = 50
    batch_size: PosInt = 16


class FinetuneTrainingConfig(EEGM2TrainingConfig):
    """``train`` of ``eegssm finetune``: shorter, at a higher rate, evaluated more often."""

    max_steps: PosInt = 200
    lr: PosFloat = 1e-3
    eval_every: NonNegInt = 50


class DetectorTrainingConfig(TrainingConfig):
    """``optim`` of the detector recipe (the batch size is ``sampling.batch_size``).

    The early-stopping metric is fixed by the recipe (``score``: OVERLAP sensitivity at
    ``evaluation.stop_fa_per_24h`` on dev, AUROC as tie-break; AUROC alone without dev seizures).
    """

    max_steps: PosInt = 400
    lr: PosFloat = 2e-3
    warmup_steps: NonNegInt = 30
    eval_every: NonNegInt = 100
    checkpoint_every: NonNegInt = 50


# -- objectives -------------------------------------------------------------------------------
class RealDetectorTrainingConfig(TrainingConfig):
    """``optim`` of the real-data detector recipe: a fixed number of steps (no early stopping:
    nothing held out is looked at while training), seeded batches of ``batch_size`` crops."""

    max_steps: PosInt = 800
    eval_every: NonNegInt = 0
    checkpoint_every: NonNegInt = 100
    batch_size: PosInt = 8
    steps_per_epoch: PosInt = 100


class MaskConfig(StrictModel):
    """EEGM2 masked reconstruction: hide random spans and predict them.

    Attributes:
        enabled: off = plain reconstruction of the whole, visible input.
        span_s: length of each hidden span (s).
        ratio: expected fraction of hidden samples, in (0, 1).
        loss_on: ``"hidden"`` (temporal term on hidden samples only; the spectral term always
            covers the whole window) or ``"all"`` samples.
        per_channel: draw spans per channel instead of the same spans on all channels.
    """

    enabled: bool = False
    span_s: PosFloat = 1.0
    ratio: float = Field(0.5, gt=0, lt=1)
    loss_on: Literal["hidden", "all"] = "hidden"
    per_channel: bool = False


class ReconstructionLossConfig(StrictModel):
    """EEGM2's temporal–spectral loss ``alpha·L1 + beta·spectral`` (Hong et al. 2025; beta 0 =
    the L1 ablation)."""

    alpha: NonNegFloat = 1.0
    beta: NonNegFloat = 1.0
    fft_norm: Literal["backward", "ortho", "forward"] = "backward"

    @model_validator(mode="after")
    def _some_weight(self) -> ReconstructionLossConfig:
        if self.alpha == 0 and self.beta == 0:
            raise ValueError("alpha and beta are both 0: the loss would be constant")
        return self


class FocalLossConfig(StrictModel):
    """The detector's focal loss (Lin et al. 2017) on per-sample logits, masked on padding;
    alpha 0.5, gamma 2 as in Brain-Go-Brr v4 (alpha None: no class weighting)."""

    alpha: float | None = Field(0.5, ge=0, le=1)
    gamma: NonNegFloat = 2.0
