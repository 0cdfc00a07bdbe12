"""Model settings: a preset plus switches; the architecture itself lives with each model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from eegssm.config.base import StrictModel


class EEGM2ModelConfig(StrictModel):
    """EEGM2 (Hong et al. 2025): a preset of :meth:`eegssm.models.eegm2.EEGM2.from_preset` plus
    the ablation switches (single-branch embedding, attention instead of Mamba-2)."""

    preset: Literal["cpu", "paper"] = "cpu"
    multi_branch: bool = True
    core: Literal["mamba2", "attention"] = "mamba2"


class DetectorModelConfig(StrictModel):
    """``SeizureDetector.from_preset(preset, core=core, causal=causal, **overrides)``.

    Attributes:
        preset: ``"fast"`` (CPU-sized) or ``"bgb-v4"`` (the published Brain-Go-Brr v4 sizes).
        core: sequence core of both streams: Mamba-2 (Dao & Gu 2024) or Gated DeltaNet (Yang et
            al. 2024).
        causal: each output depends only on earlier samples (live monitoring).
        overrides: :class:`eegssm.models.detector.DetectorConfig` fields replacing the preset's.
    """

    preset: Literal["fast", "bgb-v4"] = "fast"
    core: Literal["mamba2", "gated_deltanet"] = "mamba2"
    causal: bool = False
    overrides: dict[str, Any] = Field(default_factory=dict)

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
