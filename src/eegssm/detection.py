"""Seizure detection on whole recordings: the pipeline behind ``eegssm detect`` and ``detect()``.

``Recording`` ──checkpoint's preprocessing──▶ ``(C, T)`` ──windows + overlap averaging──▶
probability trace ``(T,)`` ──post-processing at a threshold / FA-rate operating point──▶ events.

A checkpoint is a folder with ``model.safetensors`` and ``config.json``; besides the architecture
the JSON holds the preprocessing preset and config, ``window_s`` / ``stride_s``, the
post-processing settings and the operating points chosen on the dev split (see
``eegssm.recipes.detector.model_metadata``, which writes it).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eegssm.io.types import Event, Recording
from eegssm.postprocess import PostprocessConfig, postprocess


@dataclass
class DetectionResult:
    """What detection found in one recording.

    Attributes:
        recording: the preprocessed recording the model saw.
        probs: float32 ``(T,)`` seizure probability per sample of ``recording``.
        events: detected seizure events (seconds).
        postprocess: the post-processing settings used (thresholds included).
        timings: seconds spent per stage (``preprocess``, ``model``, ``postprocess``).
    """

    recording: Recording
    probs: np.ndarray
    events: list[Event]
    postprocess: PostprocessConfig
    timings: dict[str, float] = field(default_factory=dict)


def operating_point(meta: dict[str, Any], fa_per_24h: float) -> dict[str, Any]:
    """The stored operating point of a checkpoint's ``config.json`` for a target FA/24h.

    Raises:
        ValueError: no operating point for that target (the message lists those stored).
    """
    points = meta.get("operating_points") or []
    for p in points:
        if math.isclose(float(p["target_fa_per_24h"]), fa_per_24h):
            return p
    stored = sorted(float(p["target_fa_per_24h"]) for p in points)
    raise ValueError(f"no operating point for {fa_per_24h:g} FA/24h; stored: {stored or 'none'}")


def with_thresholds(postprocess: dict[str, Any], point: dict[str, Any]) -> PostprocessConfig:
    """A :class:`PostprocessConfig` from a post-processing dict at an operating point."""
    pp = PostprocessConfig(**postprocess)
    return replace(pp, on_threshold=point["threshold"], off_threshold=point["off_threshold"])


class Detector:
    """A seizure detector with everything needed to run it on a raw recording.

    Args:
        model: maps ``(B, C, W)`` to per-sample logits ``(B, W)``.
        meta: the checkpoint's ``config.json`` contents.
        device: where the model runs.
        batch_size: windows per forward pass.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        meta: dict[str, Any],
        device: str | torch.device = "cpu",
        batch_size: int = 8,
    ) -> None:
        from eegssm.preprocessing.pipeline import PreprocessConfig, get_preset

        self.model = model.to(device).eval()
        self.meta = meta
        self.device = torch.device(device)
        self.batch_size = batch_size
        pre = meta.get("preprocess", {})
        self.preprocess_config = (
            PreprocessConfig(**pre["config"])
            if "config" in pre
            else get_preset(pre.get("preset", "seizure"))
        )
        self.window_s = float(meta.get("window_s", self.preprocess_config.window_s))
        self.stride_s = float(meta.get("stride_s", self.window_s / 2))
        self.postprocess_defaults = PostprocessConfig(**meta.get("postprocess", {}))

    @classmethod
    def from_checkpoint(
        cls, path: str | Path | None = None, device: str = "cpu", batch_size: int = 8
    ) -> Detector:
        """Load a checkpoint folder (default: the bundled one)."""
        from eegssm.models.detector import SeizureDetector

        if path is None:
            from eegssm.checkpoints import checkpoint_path

            path = checkpoint_path()
        path = Path(path)
        config = path / "config.json"
        if not config.is_file():
            raise FileNotFoundError(
                f"{path}: not a detector checkpoint (no config.json). Pass the folder written by "
                "`eegssm train` or leave --checkpoint out to use the bundled one."
            )
        model = SeizureDetector.from_pretrained(path, device=device)
        return cls(model, json.loads(config.read_text()), device, batch_size)

    def set_input_montage(self, input_montage: str) -> None:
        """How input channels are read: ``"auto"``, ``"referential"`` or ``"bipolar"`` (see
        :func:`eegssm.preprocessing.montages.describe_input`)."""
        from eegssm.preprocessing.montages import INPUT_MONTAGES

        if input_montage not in INPUT_MONTAGES:
            raise ValueError(f"montage must be one of {INPUT_MONTAGES}, got {input_montage!r}")
        self.preprocess_config = self.preprocess_config.model_copy(
            update={"input_montage": input_montage}
        )

    @property
    def name(self) -> str:
        m = self.meta
        return f"{m.get('model', 'model')} {m.get('preset', '')} {m.get('core', '')}".strip()

    def postprocess_config(
        self, threshold: float | None = None, fa_per_24h: float | None = None
    ) -> PostprocessConfig:
        """Post-processing at an explicit threshold, at the operating point for a target
        FA/24h (chosen on the dev split), or the checkpoint's defaults."""
        pp = self.postprocess_defaults
        gap = pp.on_threshold - pp.off_threshold
        if threshold is not None and fa_per_24h is not None:
            raise ValueError("give either a threshold or a target FA/24h, not both")
        if threshold is not None:
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"threshold must be in (0, 1], got {threshold}")
            return replace(pp, on_threshold=threshold, off_threshold=max(threshold - gap, 0.0))
        if fa_per_24h is not None:
            return with_thresholds(asdict(pp), operating_point(self.meta, fa_per_24h))
        return pp

    def run(
        self,
        recording: Recording,
        threshold: float | None = None,
        fa_per_24h: float | None = None,
        progress: bool | str = False,
    ) -> DetectionResult:
        """Preprocess, infer and post-process one raw recording."""
        from eegssm.inference import predict_recording
        from eegssm.preprocessing.pipeline import preprocess

        pp = self.postprocess_config(threshold, fa_per_24h)
        t0 = time.perf_counter()
        clean = preprocess(recording, self.preprocess_config)
        t1 = time.perf_counter()
        window = int(round(self.window_s * clean.sfreq))
        stride = int(round(self.stride_s * clean.sfreq))
        probs = predict_recording(
            self.model, clean.data, window, stride, self.batch_size, self.device, progress
        )
        t2 = time.perf_counter()
        events = postprocess(probs, clean.sfreq, pp)
        t3 = time.perf_counter()
        timings = {"preprocess": t1 - t0, "model": t2 - t1, "postprocess": t3 - t2}
        return DetectionResult(clean, probs, events, pp, timings)

    def run_file(
        self,
        path: str | Path,
        threshold: float | None = None,
        fa_per_24h: float | None = None,
        progress: bool | str = False,
        block_s: float | None = None,
    ) -> DetectionResult:
        """Detect seizures in an EDF/BDF file with memory bounded whatever its length.

        A recording whose raw samples fit in ``IN_MEMORY_BYTES`` (~1.9 h of 19 channels at
        256 Hz) is read whole and goes through :meth:`run`. A longer one is preprocessed
        in blocks of ~29 min (:class:`~eegssm.preprocessing.blockwise.BlockwisePreprocessor`:
        one pass for the normalisation statistics, one for the model) and
        ``result.recording`` computes the samples of a stretch only when sliced.

        Args:
            block_s: block length in seconds; given, the file is processed block by block
                whatever its length (default: whole if it fits, else blocks sized from the
                file's channels and rate).
        """
        from eegssm.inference import predict_recording_blocks
        from eegssm.io import open_recording
        from eegssm.preprocessing.blockwise import BlockwisePreprocessor, fits_in_memory

        t0 = time.perf_counter()
        source = open_recording(path)
        if block_s is None and fits_in_memory(source):
            recording = source.load()
            read_s = time.perf_counter() - t0
            result = self.run(recording, threshold, fa_per_24h, progress)
            result.timings = {"read": read_s, **result.timings}
            return result
        pre = BlockwisePreprocessor(source, self.preprocess_config, block_s)
        pp = self.postprocess_config(threshold, fa_per_24h)
        name = progress if isinstance(progress, str) else str(path)
        with _progress(source.n_times, f"{name}: statistics", progress) as bar:
            pre.scan(bar.update)
        t1 = time.perf_counter()
        window = int(round(self.window_s * pre.sfreq))
        stride = int(round(self.stride_s * pre.sfreq))
        with _progress(source.n_times, f"{name}: detection", progress) as bar:
            blocks = _Timed(pre.blocks(bar.update))
            probs = predict_recording_blocks(
                self.model, blocks, pre.n_times, window, stride, self.batch_size, self.device
            )
        t2 = time.perf_counter()
        events = postprocess(probs, pre.sfreq, pp)
        t3 = time.perf_counter()
        timings = {
            "scan (read + preprocess, pass 1)": t1 - t0,
            "read + preprocess (pass 2)": blocks.seconds,
            "model": t2 - t1 - blocks.seconds,
            "postprocess": t3 - t2,
        }
        return DetectionResult(pre.recording(), probs, events, pp, timings)


class _Timed:
    """Wraps an iterator and adds up the wall time spent producing its items."""

    def __init__(self, items) -> None:
        self.items = iter(items)
        self.seconds = 0.0

    def __iter__(self):
        return self

    def __next__(self):
        t = time.perf_counter()
        try:
            return next(self.items)
        finally:
            self.seconds += time.perf_counter() - t


def _progress(total_samples: int, desc: str, enabled: bool | str):
    """A tqdm bar over input samples (disabled unless ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total_samples, desc=desc, unit="sample", unit_scale=True, disable=not enabled)


def detect(
    recording: Recording | str | Path,
    checkpoint: str | Path | None = None,
    threshold: float | None = None,
    fa_per_24h: float | None = None,
    device: str = "cpu",
    montage: str = "auto",
) -> DetectionResult:
    """Detect seizures in a recording (a ``Recording`` or an EDF/BDF path; a path is read
    block by block when long, see :meth:`Detector.run_file`).

    Any 10-20 recording works with the bundled checkpoint: referential (any reference and label
    style) or bipolar (CHB-MIT's chain, recordings exported as derivations); ``montage`` says how
    to read the input channels (``"auto"``: from the labels; ``"referential"``, ``"bipolar"``)
    and ``result.recording.meta["input"]`` how they were read.

    Example:
        >>> from eegssm.detection import detect
        >>> result = detect("patient01.edf", fa_per_24h=5)
        >>> [(e.start, e.stop, e.confidence) for e in result.events]
    """
    detector = Detector.from_checkpoint(checkpoint, device)
    detector.set_input_montage(montage)
    if isinstance(recording, Recording):
        return detector.run(recording, threshold, fa_per_24h)
    return detector.run_file(recording, threshold, fa_per_24h)
