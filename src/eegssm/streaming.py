"""Live seizure detection: a causal detector that carries its state from chunk to chunk.

``StreamingDetector`` wraps a causal ``SeizureDetector`` (``config.causal=True``) and turns chunks
of any length into per-sample seizure probabilities. Input is buffered to whole frames of the
model's total stride ``S`` (64 samples = 0.25 s for the ``fast`` preset at 256 Hz); each complete
frame runs once through ``SeizureDetector.forward_stream``, which carries every piece of state
(conv tails of the stem, TCN blocks and decoder; the Mamba-2 / Gated DeltaNet states of every
node- and edge-stream layer; the pooled-graph buffer; the Laplacian-PE step counter; the
decoder's one-frame shift), so past frames are never recomputed. The probabilities of a frame's
``S`` samples are emitted when the frame is complete (they depend on earlier frames only).

Equality with the offline model: the streamed probabilities equal ``model(x[None])`` on the whole
recording up to float round-off everywhere the model is a continuous function of its inputs.
The exception is the Laplacian positional encoding: eigenvectors of a repeated eigenvalue of the
graph Laplacian (frequent for top-k graphs: leaves of the same hub, disconnected components) are
not a continuous function of the adjacency, so a 1e-7 difference in the edge weights (vectorised
vs scalar ``softplus`` on pieces of different length) can rotate them; the offline model is
equally sensitive to round-off there (see ``docs/benchmarks/streaming.md``).

``OnlineAlarm`` is the online form of the post-processing: hysteresis on/off thresholds, dips
shorter than ``closing_s`` ignored, and an alarm once an event has lasted ``min_duration_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from eegssm.postprocess import PostprocessConfig

if TYPE_CHECKING:
    import torch

    from eegssm.stream_engine import StreamEngine


class StreamingDetector:
    """Per-sample seizure probabilities from a stream of EEG chunks.

    Args:
        model: a causal ``SeizureDetector`` (its weights are used as they are; set to eval), or
            a :class:`eegssm.stream_engine.StreamEngine` (the same model in numpy and C, without
            PyTorch: what ``eegssm monitor`` runs on a CPU).
        device: where the PyTorch model runs (an engine runs on the CPU).

    ``push(chunk (C, n) float32)`` → probabilities ``(n',)`` float32 for the next ``n'`` samples
    (``n'`` a multiple of the stride, the rest waits in the buffer); ``flush()`` pads the buffer
    with zeros to a whole frame (as the offline model pads the end of a recording) and returns
    the remaining probabilities. Two ``StreamingDetector`` s on the same model are independent.
    """

    def __init__(
        self, model: torch.nn.Module | StreamEngine, device: str | torch.device = "cpu"
    ) -> None:
        from eegssm.stream_engine import StreamEngine

        self.engine = model if isinstance(model, StreamEngine) else None
        if self.engine is not None:
            self.model, self.stride = None, model.stride
            self.reset()
            return
        import torch

        if not getattr(model.config, "causal", False):
            raise ValueError("StreamingDetector needs a causal model (config.causal=True)")
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.stride = model.config.stride
        self.reset()

    def reset(self) -> None:
        """Forget the stream (state and buffer): the next chunk starts a new recording."""
        self.state = None  # the model's carried state (None at the start of a recording)
        self.buffer: np.ndarray | None = None  # (C, < stride) samples waiting for a frame
        self.samples_out = 0

    def push(self, chunk: np.ndarray) -> np.ndarray:
        """Append ``(C, n)`` samples; return the probabilities of every completed frame."""
        chunk = np.asarray(chunk, dtype=np.float32)
        if chunk.ndim != 2:
            raise ValueError(f"expected a (C, n) chunk, got shape {chunk.shape}")
        buf = chunk if self.buffer is None else np.concatenate([self.buffer, chunk], axis=1)
        n = buf.shape[1] - buf.shape[1] % self.stride
        self.buffer = buf[:, n:]
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        return self._run(buf[:, :n])

    def flush(self) -> np.ndarray:
        """Probabilities of the samples still buffered (zero-padded to a frame)."""
        if self.buffer is None or self.buffer.shape[1] == 0:
            return np.zeros(0, dtype=np.float32)
        r = self.buffer.shape[1]
        frame = np.pad(self.buffer, ((0, 0), (0, self.stride - r)))
        self.buffer = self.buffer[:, :0]
        probs = self._run(frame)[:r]
        self.samples_out -= self.stride - r  # the padding is not EEG
        return probs

    def _run(self, x: np.ndarray) -> np.ndarray:
        if self.engine is not None:
            logits, self.state = self.engine.forward_stream(x, self.state)
            probs = (1.0 + np.tanh(0.5 * logits)) * 0.5  # σ, as the engine's offline path
            self.samples_out += probs.size
            return probs.astype(np.float32, copy=False)
        import torch

        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)[None]
            logits, self.state = self.model.forward_stream(t, self.state)
            probs = torch.sigmoid(logits[0]).float().cpu().numpy()
        self.samples_out += probs.size
        return probs


@dataclass
class Alarm:
    """A seizure alarm (seconds from the start of the stream).

    Attributes:
        onset: first sample of the event (probability reached ``on_threshold``).
        time: when the alarm was raised (the event had lasted ``min_duration_s``).
        end: end of the event (None while it lasts).
        peak: highest probability so far.
    """

    onset: float
    time: float
    end: float | None = None
    peak: float = 0.0


class OnlineAlarm:
    """Online post-processing of a probability stream into alarms.

    An event starts at the first sample with ``p >= on_threshold``, continues while
    ``p >= off_threshold`` (dips below it shorter than ``closing_s`` do not end it), and raises an
    alarm once it has lasted ``min_duration_s`` (the offline minimum duration). Offline-only steps
    (opening, merging of events after the fact, splitting of long events) are not applied.

    ``push(probs (n,))`` → list of ``(kind, Alarm)`` with kind ``"alarm"`` or ``"end"``.
    """

    def __init__(self, config: PostprocessConfig, sfreq: float) -> None:
        self.on, self.off = config.on_threshold, config.off_threshold
        self.min_len = max(1, int(round(config.min_duration_s * sfreq)))
        self.max_gap = int(round(config.closing_s * sfreq))
        self.sfreq = float(sfreq)
        self.t = 0  # samples seen
        self.start: int | None = None  # onset of the current event
        self.last_above = 0  # last sample with p >= off in the current event
        self.alarm: Alarm | None = None
        self.peak = 0.0

    def push(self, probs: np.ndarray) -> list[tuple[str, Alarm]]:
        """Advance by ``probs (n,)``; returns the alarms raised and events ended."""
        p = np.asarray(probs, dtype=np.float32).ravel()
        out: list[tuple[str, Alarm]] = []
        if self.start is None and (p.size == 0 or p.max() < self.on):  # fast path: quiet
            self.t += p.size
            return out
        for i, v in enumerate(p.tolist()):
            t = self.t + i
            if self.start is None:
                if v >= self.on:
                    self.start, self.last_above, self.peak = t, t, v
                continue
            self.peak = max(self.peak, v)
            if v >= self.off:
                self.last_above = t
            elif t - self.last_above > self.max_gap:  # the dip lasted: the event ended
                if self.alarm is not None:
                    self.alarm.end = (self.last_above + 1) / self.sfreq
                    out.append(("end", self.alarm))
                self.start, self.alarm = None, None  # (v < off <= on: no new event here)
                continue
            if self.alarm is None and t + 1 - self.start >= self.min_len:
                self.alarm = Alarm(self.start / self.sfreq, (t + 1) / self.sfreq, peak=self.peak)
                out.append(("alarm", self.alarm))
            if self.alarm is not None:
                self.alarm.peak = self.peak
        self.t += p.size
        return out
