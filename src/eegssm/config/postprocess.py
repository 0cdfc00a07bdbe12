"""Post-processing settings: probability trace → seizure events (:mod:`eegssm.postprocess`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import ConfigDict


@dataclass(frozen=True)
class PostprocessConfig:
    """Post-processing parameters (seconds, probabilities in [0, 1]).

    Defaults from Brain-Go-Brr v4 (hysteresis 0.86 / 0.78, events of at least 3 s, morphological
    opening and closing, gaps up to 2 s merged, events over 600 s split). A frozen dataclass, so
    ``dataclasses.replace`` / ``asdict`` work; in a YAML recipe it is validated strictly (unknown
    keys are errors).

    Attributes:
        on_threshold: probability at which an event may start.
        off_threshold: an event continues while the probability stays at or above this.
        min_onset_s: ``p >= on_threshold`` must hold this long to start an event (0: one sample).
        min_offset_s: ``p < off_threshold`` must hold this long to end an event (0: one sample).
        opening_s: morphological opening length (0 disables); detections shorter vanish.
        closing_s: morphological closing length (0 disables); gaps shorter are filled.
        merge_gap_s: events separated by at most this gap are merged.
        min_duration_s: events shorter than this are dropped.
        max_duration_s: events longer than this are split into equal pieces (``inf`` disables).
        confidence: ``"mean"`` or ``"max"`` probability over the event.
        label: label of the output events.
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    on_threshold: float = 0.86
    off_threshold: float = 0.78
    min_onset_s: float = 0.0
    min_offset_s: float = 0.0
    opening_s: float = 1.0
    closing_s: float = 1.0
    merge_gap_s: float = 2.0
    min_duration_s: float = 3.0
    max_duration_s: float = 600.0
    confidence: Literal["mean", "max"] = "mean"
    label: str = "seiz"

    def __post_init__(self) -> None:
        if not 0.0 <= self.off_threshold <= self.on_threshold <= 1.0:
            raise ValueError(
                "need 0 <= off_threshold <= on_threshold <= 1, got "
                f"off={self.off_threshold}, on={self.on_threshold}"
            )
        if self.confidence not in ("mean", "max"):
            raise ValueError(f"confidence must be 'mean' or 'max', got {self.confidence!r}")
        if not self.max_duration_s > 0:
            raise ValueError(f"max_duration_s must be positive, got {self.max_duration_s}")
