"""Seizure detection on whole recordings: the pipeline behind ``eegssm detect`` and ``detect()``.

``Recording`` ──checkpoint's preprocessing──▶ ``(C, T)`` ──the model over the whole recording in
one pass (:mod:`eegssm.onepass`)──▶ probability trace ``(T,)`` ──post-processing at a threshold /
FA-rate operating point──▶ events.

A checkpoint is a folder with ``model.safetensors``, ``config.json`` and a model card
``README.md`` (or a Hugging Face Hub repository of that layout); besides the architecture the JSON
holds the input contract (``input``: montage, channels, rate, window; see
:mod:`eegssm.contract`), the preprocessing preset and config, ``window_s`` / ``stride_s``, the
post-processing settings and the operating points chosen on the dev split (see
``eegssm.recipes.detector.model_metadata``, which writes it). Recordings come in as
``Recording``, ``mne.io.Raw`` or a path; results go out as events, ``mne.Annotations`` or a
``pandas.DataFrame``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eegssm.io.types import Event, Recording
from eegssm.postprocess import PostprocessConfig, postprocess

if TYPE_CHECKING:
    import torch


@dataclass
class DetectionResult:
    """What detection found in one recording.

    Attributes:
        recording: the preprocessed recording the model saw (``meta["start_time"]``: the
            first sample's date and time when the input had one).
        probs: float32 ``(T,)`` seizure probability per sample of ``recording``.
        events: detected seizure events (seconds from the first sample).
        postprocess: the post-processing settings used (thresholds included).
        timings: seconds spent per stage (``preprocess``, ``model``, ``postprocess``; ``read``
            for a file; ``waiting for the model to load`` after
            ``Detector.from_checkpoint(background=True)``; ``eegssm detect`` adds ``waiting
            for the child process (read + preprocess)`` when a child process read the file,
            whose ``read`` and ``preprocess`` then ran beside the model's loading). A file
            read block by block has ``read + preprocess`` (with PyTorch; with the engine only
            the opening) and, with the engine, :data:`READ_AHEAD_WAIT`: blocks are read on a
            thread one ahead of the model, which waited that long for them.
        operating_point: how the threshold was chosen: ``{"kind": "threshold" |
            "fa_per_24h" | "checkpoint default", "target_fa_per_24h": float | None,
            "threshold": float, "off_threshold": float}``.
        runtime: what ran the model: ``"pytorch"`` or ``"eegssm.engine"`` (numpy and C,
            :meth:`Detector.use_engine`).
    """

    recording: Recording
    probs: np.ndarray
    events: list[Event]
    postprocess: PostprocessConfig
    timings: dict[str, float] = field(default_factory=dict)
    operating_point: dict[str, Any] = field(default_factory=dict)
    runtime: str = "pytorch"

    @property
    def start_time(self) -> datetime.datetime | None:
        """Date and time (UTC) of the recording's first sample, or None when unknown."""
        return start_datetime(self.recording.meta.get("start_time"))

    def to_annotations(self):
        """The events as ``mne.Annotations`` (description: the label, e.g. ``seiz``; extras:
        ``confidence``), with ``orig_time`` the recording's first sample: setting them on the
        ``mne.io.Raw`` the recording came from puts each one on its samples
        (``raw.set_annotations(result.to_annotations())``). ``orig_time`` is None when the
        recording has no start date (onsets are then seconds from the first sample)."""
        import mne

        ev = self.events
        return mne.Annotations(
            onset=[e.start for e in ev],
            duration=[e.duration for e in ev],
            description=[e.label for e in ev],
            orig_time=self.start_time,
            extras=[{"confidence": float(e.confidence)} for e in ev],
        )

    def to_dataframe(self):
        """The events as a ``pandas.DataFrame``: ``onset``, ``duration``, ``offset`` (seconds
        from the first sample), ``trial_type`` (label), ``confidence`` and ``channel``.

        Needs pandas (not an eegssm dependency; ``result.events`` holds the same as a list).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "to_dataframe needs pandas (pip install pandas); result.events holds the "
                "same events as a list"
            ) from None
        columns = ["onset", "duration", "offset", "trial_type", "confidence", "channel"]
        rows = [
            (e.start, e.duration, e.stop, e.label, float(e.confidence), e.channel)
            for e in self.events
        ]
        return pd.DataFrame(rows, columns=columns)


def start_datetime(value: Any) -> datetime.datetime | None:
    """A recording start (``meta["start_time"]``: ISO text, naive = UTC, or a datetime) as a
    timezone-aware UTC datetime; None when absent."""
    if value in (None, ""):
        return None
    when = value if isinstance(value, datetime.datetime) else datetime.datetime.fromisoformat(value)
    if when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc)


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


#: A checkpoint's ``config.json`` larger than this is not read before validation (a detector's
#: is ~10 KB; ``from_pretrained`` refuses oversized ones with its own limit).
MAX_CONFIG_BYTES = 1 << 20


@dataclass
class Prepared:
    """A recording read and preprocessed for a checkpoint (:meth:`Detector.prepare`).

    Attributes:
        clean: the preprocessed recording, channels in the model's order.
        timings: seconds: ``preprocess``, and ``read`` for a file.
    """

    clean: Recording
    timings: dict[str, float] = field(default_factory=dict)


def _ready(model: torch.nn.Module, device: str | torch.device) -> torch.nn.Module:
    return model.to(device).eval()


def _load_model(path: Path, device: str | torch.device) -> torch.nn.Module:
    """A ``SeizureDetector`` checkpoint folder's model, in eval mode on ``device``."""
    from eegssm.models.detector import SeizureDetector

    return _ready(SeizureDetector.from_pretrained(path, device=device), device)


class Detector:
    """A seizure detector with everything needed to run it on a raw recording.

    Args:
        model: maps ``(B, C, W)`` to per-sample logits ``(B, W)``; or a ``Future`` of it (a
            checkpoint loading in the background, see :meth:`from_checkpoint`), waited for when
            :attr:`model` is first used.
        meta: the checkpoint's ``config.json`` contents.
        device: where the model runs.
        batch_size: windows per forward pass.
        path: the checkpoint folder (named in errors; its weights are hashed for the outputs).
        inference: ``"onepass"`` (the whole recording at once, :mod:`eegssm.onepass`; the
            default) or ``"windows"`` (overlapping windows of the checkpoint's ``window_s``
            every ``stride_s``, averaged; kept for comparison).

    Attributes:
        preprocess_config: the checkpoint's preprocessing. A checkpoint that records none (a
            bare ``SeizureDetector.save_pretrained``) gets the ``seizure`` preset at the model's
            rate, with montage ``as_is`` when the model's channel count is not the preset's 19.
        input: the checkpoint's input contract (:class:`eegssm.contract.InputSpec`); every
            recording is checked against it after preprocessing.
    """

    def __init__(
        self,
        model: torch.nn.Module | Future,
        meta: dict[str, Any],
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        path: str | Path | None = None,
        inference: str = "onepass",
    ) -> None:
        from eegssm.contract import InputSpec, preprocess_config_of
        from eegssm.inference import INFERENCE_MODES

        if inference not in INFERENCE_MODES:
            raise ValueError(f"inference must be one of {INFERENCE_MODES}, got {inference!r}")
        self.inference = inference

        self._model = model if isinstance(model, Future) else _ready(model, device)
        self.meta = meta
        self._device = device
        self.batch_size = batch_size
        self.path = Path(path) if path is not None else None
        self.preprocess_config = preprocess_config_of(meta)
        self.input = InputSpec.from_meta(meta, self.preprocess_config)
        self.window_s = float(meta.get("window_s", self.input.window_s))
        self.stride_s = float(meta.get("stride_s", self.window_s / 2))
        self.postprocess_defaults = PostprocessConfig(**meta.get("postprocess", {}))
        self._sha256: str | None = None
        self._pending: tuple[Path, str | torch.device] | None = None  # a deferred load
        self.engine = None  # an eegssm.engine.DetectorEngine once use_engine() chose it

    def use_engine(self, threads: int | None = None) -> str | None:
        """Run the model with :mod:`eegssm.engine` (numpy and C, without importing PyTorch)
        from now on, where it can: on the CPU, one-pass inference, an architecture it covers
        (the bundled checkpoint's), the C extension built. Recordings read whole and those read
        block by block (:meth:`run_file`) both go through it. Its probabilities equal the
        PyTorch model's to float32 round-off (see :mod:`eegssm.engine` for the one exception);
        it saves the PyTorch import (1-2 s) and runs the model faster (``eegssm detect`` uses
        it wherever it can).

        Returns why it cannot (the PyTorch model then runs), or None when it will.
        """
        from eegssm import engine

        if str(self._device) != "cpu" or self.inference != "onepass":
            return f"device {self._device}, inference {self.inference} (it runs onepass on cpu)"
        if self.path is None:
            return "no checkpoint folder"
        reason = engine.supports(self.meta) or engine.unavailable()
        if reason is None:
            try:
                self.engine = engine.DetectorEngine.from_folder(self.path, threads)
            except (OSError, ValueError, KeyError) as err:  # the PyTorch load reports it
                reason = f"{self.path}: {err}"
        return reason

    def stream_engine(self):
        """The live model of a causal checkpoint in numpy and C
        (:class:`eegssm.stream_engine.StreamEngine`, for
        :class:`~eegssm.streaming.StreamingDetector`) where it can run: on the CPU, an
        architecture it covers (the bundled causal checkpoint's), the C extension built. Its
        logits equal the PyTorch model's ``forward_stream`` to float32 round-off, at a fraction
        of the CPU time per chunk.

        Returns ``(engine, None)``, or ``(None, why not)`` (the PyTorch model then runs).
        """
        from eegssm import engine, stream_engine

        if str(self._device) != "cpu":
            return None, f"device {self._device} (it runs on cpu)"
        if self.path is None:
            return None, "no checkpoint folder"
        reason = engine.supports(self.meta, causal=True) or engine.unavailable()
        if reason is not None:
            return None, reason
        try:
            return stream_engine.StreamEngine.from_folder(self.path), None
        except (OSError, ValueError, KeyError) as err:  # the PyTorch load reports it
            return None, f"{self.path}: {err}"

    def start_loading(self) -> None:
        """Start loading the model on a thread, after ``from_checkpoint(background=True,
        defer_load=True)``; does nothing when it is loading or loaded."""
        if self._pending is None:
            return
        loader = ThreadPoolExecutor(1, thread_name_prefix="eegssm-load")
        self._model = loader.submit(_load_model, *self._pending)
        self._pending = None
        loader.shutdown(wait=False)  # the thread ends when the model is loaded

    @property
    def model(self) -> torch.nn.Module:
        """The model (in eval mode on :attr:`device`); waits for a background load to finish.

        Raises:
            CheckpointError: the background load failed (the message names the file)."""
        self.start_loading()
        if isinstance(self._model, Future):
            self._model = self._model.result()
        return self._model

    def model_when_loaded(self) -> tuple[torch.nn.Module, float]:
        """:attr:`model`, and the seconds spent waiting for its background load (0.0 when it
        was there).

        Raises:
            CheckpointError: as :attr:`model`."""
        t = time.perf_counter()
        loading = isinstance(self._model, Future)
        model = self.model
        return model, (time.perf_counter() - t if loading else 0.0)

    def load_error(self) -> BaseException | None:
        """The error of a failed background load (waits for the load to end); None when the
        model loaded or was given loaded."""
        self.start_loading()
        return self._model.exception() if isinstance(self._model, Future) else None

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        import torch

        return torch.device(self._device)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 8,
        revision: str | None = None,
        inference: str = "onepass",
        background: bool = False,
        defer_load: bool = False,
    ) -> Detector:
        """Load a checkpoint: a folder, a Hugging Face Hub repository id (``owner/name``,
        needs ``huggingface_hub``) or, with None, the bundled one.

        ``background=True`` returns at once, with the checkpoint's settings read, and loads
        the model (importing PyTorch, ~1-2 s on a small CPU) on a thread, which
        :attr:`model` waits for: reading and preprocessing a first recording meanwhile
        (``eegssm detect`` does) hides the part of that time that does not hold the GIL. A
        checkpoint whose model fails to load then raises its ``CheckpointError`` on first use
        of :attr:`model` (a config that cannot even be read is loaded at once, and its error
        raised here, as without ``background``). With ``defer_load=True`` as well, the thread
        starts at :meth:`start_loading` (or first use of :attr:`model`): ``eegssm detect``
        forks a child to read its first file before it, as a fork must come before any thread
        (see :mod:`eegssm.forked`).
        """
        from eegssm.hub import resolve_checkpoint

        if path is None:
            from eegssm.checkpoints import checkpoint_path

            path = checkpoint_path()
        path = resolve_checkpoint(path, revision)
        config = path / "config.json"
        if not config.is_file():
            raise FileNotFoundError(
                f"{path}: not a detector checkpoint (no config.json). Pass the folder written by "
                "`eegssm train` or leave --checkpoint out to use the bundled one."
            )
        if background:
            # The settings first (this thread imports the preprocessing modules), then the model
            # on a thread (which imports torch): the two never import the same module at once.
            # A config these settings cannot be read from is loaded the validating way below,
            # whose error names the problem.
            try:
                if config.stat().st_size > MAX_CONFIG_BYTES:
                    raise ValueError("too large for a config")
                detector = cls(
                    Future(), json.loads(config.read_text()), device, batch_size, path, inference
                )
            except Exception:  # noqa: BLE001 - reported by the validating load
                background = False
        if not background:  # the model first: from_pretrained validates the config
            model = _load_model(path, device)
            return cls(model, json.loads(config.read_text()), device, batch_size, path, inference)
        detector._pending = (path, device)
        if not defer_load:
            detector.start_loading()
        return detector

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

    @property
    def weights_sha256(self) -> str | None:
        """SHA-256 of the checkpoint's ``model.safetensors`` (None without a folder)."""
        if self._sha256 is None and self.path is not None:
            weights = self.path / "model.safetensors"
            if weights.is_file():
                self._sha256 = sha256_file(weights)
        return self._sha256

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

    def _operating_point(
        self, pp: PostprocessConfig, threshold: float | None, fa_per_24h: float | None
    ) -> dict[str, Any]:
        kind = (
            "threshold"
            if threshold is not None
            else "fa_per_24h"
            if fa_per_24h is not None
            else "checkpoint default"
        )
        return {
            "kind": kind,
            "target_fa_per_24h": fa_per_24h,
            "threshold": pp.on_threshold,
            "off_threshold": pp.off_threshold,
        }

    @property
    def checkpoint_label(self) -> str:
        """``checkpoint PATH`` (or its model name without a folder), for messages."""
        return f"checkpoint {self.path}" if self.path is not None else f"checkpoint {self.name}"

    def check_input(self, ch_names: list[str], sfreq: float, source: str) -> list[int] | None:
        """:meth:`eegssm.contract.InputSpec.check` for this checkpoint."""
        return self.input.check(ch_names, sfreq, source, self.checkpoint_label)

    def prepare(
        self, recording: Recording | Any, channel_map: dict[str, str] | None = None
    ) -> Prepared:
        """Preprocess a raw recording for the model and check it against the checkpoint's
        input (channels reordered to the model's); no PyTorch needed.

        Raises:
            eegssm.contract.InputMismatchError: the preprocessed recording does not fit the
                checkpoint's input (channels, rate).
        """
        from eegssm.io import as_recording
        from eegssm.preprocessing.pipeline import preprocess

        recording = as_recording(recording, channel_map)
        t0 = time.perf_counter()
        clean = preprocess(recording, self.preprocess_config)
        source = str(recording.meta.get("source") or "recording")
        order = self.check_input(clean.ch_names, clean.sfreq, source)
        if order is not None:
            clean = clean.copy_with(
                data=clean.data[order], ch_names=[clean.ch_names[i] for i in order]
            )
        return Prepared(clean, {"preprocess": time.perf_counter() - t0})

    def prepare_file(
        self,
        path: str | Path,
        channel_map: dict[str, str] | None = None,
        max_bytes: int | None = None,
    ) -> Prepared | None:
        """:meth:`prepare` for an EDF/BDF file that fits in memory (``read`` timed too); None
        for a longer one, which :meth:`run_file` processes block by block, and (``max_bytes``)
        for one whose preprocessed float32 samples would take more than ``max_bytes``
        (estimated from the header: the model's channels at the model's rate)."""
        from eegssm.io import open_recording

        t0 = time.perf_counter()
        source = open_recording(path, channel_map=channel_map)
        if max_bytes is not None:
            rate = self.input.sfreq / source.sfreq
            if 4 * self.input.n_chans * math.ceil(source.n_times * rate) > max_bytes:
                return None
        return self._prepare_source(source, t0)

    def _prepare_source(self, source, t0: float) -> Prepared | None:
        """:meth:`prepare_file` on an opened file (``t0``: when its opening began)."""
        from eegssm.preprocessing.blockwise import fits_in_memory

        if not fits_in_memory(source):
            return None
        recording = source.load()
        read_s = time.perf_counter() - t0
        prepared = self.prepare(recording)
        prepared.timings = {"read": read_s, **prepared.timings}
        return prepared

    def run(
        self,
        recording: Recording | Any,
        threshold: float | None = None,
        fa_per_24h: float | None = None,
        progress: bool | str = False,
        channel_map: dict[str, str] | None = None,
    ) -> DetectionResult:
        """Preprocess, infer and post-process one raw recording.

        Args:
            recording: a :class:`Recording` (µV) or an ``mne.io.Raw`` (volts; channel names,
                annotations and ``meas_date`` are kept, see :func:`eegssm.io.from_mne`).
            channel_map: old → new channel names applied before preprocessing.

        Raises:
            eegssm.contract.InputMismatchError: the preprocessed recording does not fit the
                checkpoint's input (channels, rate).
        """
        self.postprocess_config(threshold, fa_per_24h)  # bad settings fail before the work
        return self.infer(self.prepare(recording, channel_map), threshold, fa_per_24h, progress)

    def infer(
        self,
        prepared: Prepared,
        threshold: float | None = None,
        fa_per_24h: float | None = None,
        progress: bool | str = False,
    ) -> DetectionResult:
        """The model and post-processing on a recording from :meth:`prepare`."""
        from eegssm.inference import predict

        pp = self.postprocess_config(threshold, fa_per_24h)
        clean = prepared.clean
        if self.engine is not None:  # numpy and C, no PyTorch (use_engine)
            t1, waited = time.perf_counter(), 0.0
            probs = self.engine.probabilities(clean.data)
        else:
            model, waited = self.model_when_loaded()
            t1 = time.perf_counter()
            window = int(round(self.window_s * clean.sfreq))
            stride = int(round(self.stride_s * clean.sfreq))
            probs = predict(
                model, clean.data, window, stride, self.batch_size, self.device, progress,
                self.inference,
            )  # fmt: skip
        t2 = time.perf_counter()
        events = postprocess(probs, clean.sfreq, pp)
        t3 = time.perf_counter()
        timings = {**prepared.timings, "model": t2 - t1, "postprocess": t3 - t2}
        if waited:
            timings["waiting for the model to load"] = waited
        point = self._operating_point(pp, threshold, fa_per_24h)
        runtime = "eegssm.engine" if self.engine is not None else "pytorch"
        return DetectionResult(clean, probs, events, pp, timings, point, runtime)

    def run_file(
        self,
        path: str | Path,
        threshold: float | None = None,
        fa_per_24h: float | None = None,
        progress: bool | str = False,
        block_s: float | None = None,
        channel_map: dict[str, str] | None = None,
        prepared: Prepared | None = None,
    ) -> DetectionResult:
        """Detect seizures in an EDF/BDF file with memory bounded whatever its length.

        A recording whose raw samples fit in ``IN_MEMORY_BYTES`` (~1.9 h of 19 channels at
        256 Hz) is read whole (:meth:`prepare_file`) and goes through :meth:`infer`. A longer
        one is preprocessed in blocks of ~29 min
        (:class:`~eegssm.preprocessing.blockwise.BlockwisePreprocessor`): with the engine
        (:meth:`use_engine`) one block ahead of the model on a thread (the reading's one-core
        parts would leave a core idle; 3 alternating rounds on 24 h: 65-80 s against 77-90 s),
        with PyTorch as the model reads it (beside PyTorch's two-thread convolutions a reading
        thread took 1.2-1.35x as long as one after the other, measured on 24 h); in one pass
        over the file with a fixed scale (the bundled checkpoint), checking for flat
        channels on the way (when one is found, the two passes below run); with a z-score, one
        pass for the statistics first. ``result.recording``
        computes the samples of a stretch only when sliced.

        Args:
            block_s: block length in seconds; given, the file is processed block by block
                whatever its length (default: whole if it fits, else blocks sized from the
                file's channels and rate).
            channel_map: old → new channel names applied before preprocessing.
            prepared: this file's :meth:`prepare_file` result, when it was computed
                elsewhere (``eegssm detect`` reads its first file in a child process while
                PyTorch imports).
        """
        from eegssm.inference import predict_blocks, sample_bar
        from eegssm.io import open_recording
        from eegssm.preprocessing.blockwise import BlockwisePreprocessor

        self.postprocess_config(threshold, fa_per_24h)  # bad settings fail before the work
        t0 = time.perf_counter()
        source = None
        if block_s is None and prepared is None:
            source = open_recording(path, channel_map=channel_map)
            prepared = self._prepare_source(source, t0)
        if block_s is None and prepared is not None:
            return self.infer(prepared, threshold, fa_per_24h, progress)
        if source is None:
            source = open_recording(path, channel_map=channel_map)
        pre = BlockwisePreprocessor(source, self.preprocess_config, block_s)
        order = self.check_input(pre.ch_names, pre.sfreq, str(path))
        if order is not None:
            pre.matrix = np.ascontiguousarray(pre.matrix[order])
            pre.ch_names = [pre.ch_names[i] for i in order]
        pp = self.postprocess_config(threshold, fa_per_24h)
        name = progress if isinstance(progress, str) else str(path)
        timings: dict[str, float] = {"read + preprocess": time.perf_counter() - t0}  # opening

        def scan() -> None:
            t = time.perf_counter()
            with sample_bar(source.n_times, f"{name}: statistics", progress) as bar:
                pre.scan(bar.update)
            timings["scan (read + preprocess, pass 1)"] = time.perf_counter() - t

        def detect_blocks(one_pass: bool) -> np.ndarray:
            with sample_bar(source.n_times, f"{name}: detection", progress) as bar:
                blocks = pre.blocks_in_one_pass if one_pass else pre.blocks
                t = time.perf_counter()
                if self.engine is not None:  # numpy and C, no PyTorch (use_engine)
                    timed = _Ahead(blocks(bar.update))
                    try:
                        probs = self.engine.probabilities_blocks(timed, pre.n_times)
                    finally:
                        timed.close()
                else:
                    timed = _Timed(blocks(bar.update))
                    probs = predict_blocks(
                        model, timed, pre.n_times, window, stride, self.batch_size,
                        self.device, self.inference,
                    )  # fmt: skip
            # with the engine, blocks are read ahead on a thread: the model waited this long
            key = "read + preprocess" if self.engine is None else READ_AHEAD_WAIT
            timings[key] = timings.get(key, 0.0) + timed.seconds
            timings["model"] = timings.get("model", 0.0) + time.perf_counter() - t - timed.seconds
            return probs

        # A fixed scale needs no statistics: one pass over the file, which checks for flat
        # channels on the way; when it finds one (rare), the two passes run as they must.
        one_pass = not pre.needs_statistics
        if not one_pass:
            scan()
        model, waited = (None, 0.0) if self.engine is not None else self.model_when_loaded()
        window = int(round(self.window_s * pre.sfreq))
        stride = int(round(self.stride_s * pre.sfreq))
        probs = detect_blocks(one_pass)
        if one_pass and pre.scan_needed:
            scan()
            probs = detect_blocks(False)
        t2 = time.perf_counter()
        events = postprocess(probs, pre.sfreq, pp)
        timings["postprocess"] = time.perf_counter() - t2
        if waited:
            timings["waiting for the model to load"] = waited
        point = self._operating_point(pp, threshold, fa_per_24h)
        runtime = "eegssm.engine" if self.engine is not None else "pytorch"
        return DetectionResult(pre.recording(), probs, events, pp, timings, point, runtime)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


#: ``timings_s`` key of a recording read block by block for the engine: how long the model
#: waited for the next block (the rest of the reading overlapped the model).
READ_AHEAD_WAIT = "waiting for read + preprocess (the rest overlaps the model)"


class _Ahead:
    """Iterates ``items`` one item ahead on a thread: the next block is read and preprocessed
    while the consumer works on this one (the engine's front end leaves the cores idle in
    parts of the reading: the file, the montage and the checks run on one core).
    ``seconds`` adds up the time the consumer waited; an error in ``items`` is raised in the
    consumer; :meth:`close` stops the thread."""

    def __init__(self, items) -> None:
        import queue
        import threading

        self.seconds = 0.0
        self._queue: queue.Queue = queue.Queue(1)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=self._produce, args=(items,), name="eegssm-read-ahead", daemon=True
        )
        self._thread.start()

    def _produce(self, items) -> None:
        import queue

        def put(item) -> bool:
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for item in items:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as err:  # handed to the consumer
            put(("error", err))

    def __iter__(self):
        return self

    def __next__(self):
        if self._done:
            raise StopIteration
        t = time.perf_counter()
        kind, value = self._queue.get()
        self.seconds += time.perf_counter() - t
        if kind == "item":
            return value
        self._done = True
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


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


def detect(
    recording: Recording | Any,
    checkpoint: str | Path | None = None,
    threshold: float | None = None,
    fa_per_24h: float | None = None,
    device: str = "cpu",
    montage: str = "auto",
    channel_map: dict[str, str] | None = None,
) -> DetectionResult:
    """Detect seizures in a recording: a ``Recording``, an ``mne.io.Raw`` or an EDF/BDF path
    (a path is read block by block when long, see :meth:`Detector.run_file`).

    Args:
        checkpoint: a checkpoint folder or Hub repository id (default: the bundled one).
        channel_map: old → new channel names applied first, e.g. ``{"EEG 001": "Fp1"}``.

    Any 10-20 recording works with the bundled checkpoint: referential (any reference and label
    style) or bipolar (CHB-MIT's chain, recordings exported as derivations); ``montage`` says how
    to read the input channels (``"auto"``: from the labels; ``"referential"``, ``"bipolar"``)
    and ``result.recording.meta["input"]`` how they were read.

    Example:
        >>> import mne
        >>> from eegssm.detection import detect
        >>> result = detect(mne.io.read_raw_edf("patient01.edf"), fa_per_24h=5)
        >>> [(e.start, e.stop, e.confidence) for e in result.events]
        >>> annotations = result.to_annotations()  # mne.Annotations, orig_time = file start
    """
    detector = Detector.from_checkpoint(checkpoint, device)
    detector.set_input_montage(montage)
    if isinstance(recording, (str, Path)):
        return detector.run_file(recording, threshold, fa_per_24h, channel_map=channel_map)
    return detector.run(recording, threshold, fa_per_24h, channel_map=channel_map)
