"""Evaluation settings: dev inference, the post-processing and the operating points stored in a
detector checkpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from eegssm.config.base import PosFloat, PosInt, StrictModel
from eegssm.config.postprocess import PostprocessConfig

#: Target false alarms per 24 h (NEDC OVERLAP) of the operating points reported for TUSZ
#: detectors (Brain-Go-Brr v4, SeizureTransformer).
TARGETS_FA_PER_24H: tuple[float, ...] = (10.0, 5.0, 2.5, 1.0)


class DetectorEvaluationConfig(StrictModel):
    """Dev evaluation of the detector and its operating points.

    Attributes:
        stride_s: inference stride on dev recordings (s); overlapping windows are averaged.
        max_recordings: evaluate at most this many dev recordings during training (None: all).
        stop_fa_per_24h: FA budget of the early-stopping sensitivity.
        targets_fa_per_24h: operating points stored in the checkpoint (thresholds chosen on dev).
        n_thresholds: thresholds swept on (0, 1) for the operating points.
        postprocess: post-processing (thresholds are set per operating point; the off-threshold
            keeps the configured gap below it).
        batch_size: windows per forward pass at inference (``inference="windows"``).
        inference: ``"onepass"`` (the whole recording at once, as ``eegssm detect`` runs it)
            or ``"windows"`` (overlapping windows, averaged).
    """

    stride_s: PosFloat = 30.0
    max_recordings: PosInt | None = None
    stop_fa_per_24h: PosFloat = 10.0
    targets_fa_per_24h: list[float] = Field(default_factory=lambda: list(TARGETS_FA_PER_24H))
    n_thresholds: int = Field(99, ge=2)
    postprocess: PostprocessConfig = Field(default_factory=PostprocessConfig)
    batch_size: PosInt = 8
    inference: Literal["onepass", "windows"] = "onepass"


class RealDetectorEvaluationConfig(StrictModel):
    """Out-of-fold evaluation and operating points of the real-data detector recipe.

    Attributes:
        folds: folds over seizures and seizure-free subjects (fold ``i`` holds out seizure ``i``).
        targets_fa_per_24h: operating points stored in the checkpoint.
        n_thresholds: thresholds swept on (0, 1).
        postprocess: post-processing (the off-threshold keeps the configured gap below each
            threshold).
        batch_size: windows per forward pass at inference (``inference="windows"``).
        inference: ``"onepass"``: the whole recording at once, as ``eegssm detect`` runs it
            (:mod:`eegssm.onepass`); ``"windows"``: overlapping windows, averaged.
    """

    folds: int = Field(7, ge=2)
    targets_fa_per_24h: list[float] = Field(default_factory=lambda: list(TARGETS_FA_PER_24H))
    n_thresholds: int = Field(199, ge=2)
    postprocess: PostprocessConfig = Field(default_factory=PostprocessConfig)
    batch_size: PosInt = 8
    inference: Literal["onepass", "windows"] = "onepass"
