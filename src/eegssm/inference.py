"""Whole-recording inference: one probability trace per recording, memory bounded.

Two ways to run a per-sample model over a recording, behind one entry point
(:func:`predict`, ``mode``):

- ``"onepass"`` (default for a ``SeizureDetector``): the model reads the whole recording at once,
  in chunks that carry the SSM states (:mod:`eegssm.onepass`); equal to the model on the whole
  sequence, no window seams, O(N).
- ``"windows"``: overlapping windows, averaged where they overlap (any model mapping
  ``(B, C, W)`` to ``(B, W)``, e.g. the baselines; the way the first checkpoints were scored).

For windows: a per-sample model (``(B, C, W)`` → logits ``(B, W)``) is run over overlapping windows
of a preprocessed recording (:func:`predict_recording`); window probabilities are averaged where
windows overlap (:class:`OverlapAdd`, :func:`stitch_windows`). Windows are views into the signal
(no copy of the recording) and are fed ``batch_size`` at a time, so memory is the recording plus
two trace-length arrays. :func:`predict_recording_blocks` does the same for a recording that
arrives block by block (see ``eegssm.preprocessing.blockwise``), holding one block at a time;
:func:`predict_recordings` runs a list of recordings in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # PyTorch is imported when a model runs (eegssm.detection loads it lazily)
    import torch
    from torch import Tensor, nn

INFERENCE_MODES = ("onepass", "windows")


def supports_onepass(model) -> bool:
    """Whether ``model`` can run in one pass (a ``SeizureDetector``)."""
    from eegssm.models.detector import SeizureDetector

    return isinstance(model, SeizureDetector)


def predict(
    model: nn.Module | Callable[[Tensor], Tensor],
    data: np.ndarray,
    window: int,
    stride: int,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool | str = False,
    mode: str = "onepass",
) -> np.ndarray:
    """Per-sample probabilities ``(T,)`` of a preprocessed recording ``data (C, T)``.

    ``mode="onepass"`` runs a ``SeizureDetector`` over the whole recording
    (:class:`eegssm.onepass.OnePass`; ``window``, ``stride`` and ``batch_size`` unused); other
    models, or ``mode="windows"``, go through :func:`predict_recording`.
    """
    if mode not in INFERENCE_MODES:
        raise ValueError(f"mode must be one of {INFERENCE_MODES}, got {mode!r}")
    if mode != "onepass" or not supports_onepass(model):
        return predict_recording(model, data, window, stride, batch_size, device, progress)
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"data must be (C, T), got shape {data.shape}")
    desc = progress if isinstance(progress, str) else "inference"
    with sample_bar(data.shape[1], desc, progress, leave=False) as bar:
        return predict_blocks(
            model, [data], data.shape[1], window, stride, batch_size, device, mode, bar.update
        )


def predict_blocks(
    model: nn.Module | Callable[[Tensor], Tensor],
    blocks: Iterable[np.ndarray],
    n_times: int,
    window: int,
    stride: int,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    mode: str = "onepass",
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """:func:`predict` for a recording arriving as consecutive ``(C, n_i)`` blocks (lengths
    adding up to ``n_times``): :class:`eegssm.onepass.OnePass` or
    :func:`predict_recording_blocks`. ``progress(k)`` is called with the input samples done
    (one pass only)."""
    if mode not in INFERENCE_MODES:
        raise ValueError(f"mode must be one of {INFERENCE_MODES}, got {mode!r}")
    if mode == "onepass" and supports_onepass(model):
        from eegssm.onepass import OnePass

        return OnePass(model).run(blocks, n_times, progress)
    return predict_recording_blocks(model, blocks, n_times, window, stride, batch_size, device)


def sample_bar(total: int, desc: str, enabled: bool | str, leave: bool = True):
    """A tqdm bar over ``total`` input samples (disabled unless ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=desc, unit="sample", unit_scale=True, disable=not enabled, leave=leave
    )


class OverlapAdd:
    """Running overlap-add average of window predictions, fed one batch at a time.

    Memory is two arrays of the recording's length (float32 sums, uint16 counts: 6 bytes per
    sample) whatever the number of windows: a 24-hour trace at 256 Hz needs about 130 MB, and
    :meth:`result` adds the float32 output (88 MB) without other full-length temporaries.
    Sums of at most 65,535 probabilities in float32 are exact to ~1e-7 relative.

    Args:
        total_len: length ``T`` of the recording in samples.
    """

    def __init__(self, total_len: int) -> None:
        self.total_len = int(total_len)
        self.sums = np.zeros(self.total_len, dtype=np.float32)
        self.counts = np.zeros(self.total_len, dtype=np.uint16)

    def add(self, probs: np.ndarray, starts: np.ndarray) -> None:
        """Add ``probs (N, W)`` of windows starting at ``starts (N,)`` samples; parts outside
        ``[0, T)`` are ignored."""
        probs = np.asarray(probs)
        if probs.ndim != 2:
            raise ValueError(f"probs must be (N, W), got shape {probs.shape}")
        n, w = probs.shape
        starts = np.asarray(starts, dtype=np.int64).ravel()
        if starts.size != n:
            raise ValueError(f"{starts.size} window starts for {n} windows")
        if n == 0:
            return
        lo = max(0, int(starts.min()))
        hi = min(self.total_len, int(starts.max()) + w)
        if hi <= lo:
            return
        idx = starts[:, None] + np.arange(w, dtype=np.int64)[None, :]
        inside = (idx >= lo) & (idx < hi)
        sums = np.bincount(idx[inside] - lo, weights=probs[inside], minlength=hi - lo)
        counts = np.bincount(idx[inside] - lo, minlength=hi - lo)
        if int(self.counts[lo:hi].max()) + int(counts.max()) > np.iinfo(np.uint16).max:
            raise ValueError("more than 65,535 windows overlap one sample; use a longer stride")
        self.sums[lo:hi] += sums.astype(np.float32)
        self.counts[lo:hi] += counts.astype(np.uint16)

    def result(self, fill_value: float = 0.0, chunk: int = 1 << 20) -> np.ndarray:
        """float32 ``(T,)``: the mean of the windows covering each sample (``fill_value`` where
        none does)."""
        out = np.empty(self.total_len, dtype=np.float32)
        for a in range(0, self.total_len, chunk):
            sums, counts = self.sums[a : a + chunk], self.counts[a : a + chunk]
            np.divide(sums, counts, out=out[a : a + chunk], where=counts > 0)
            out[a : a + chunk][counts == 0] = fill_value
        return out


def stitch_windows(
    probs: np.ndarray, starts: np.ndarray, total_len: int, fill_value: float = 0.0
) -> np.ndarray:
    """Average overlapping window predictions into one trace (overlap-add with counts).

    Args:
        probs: ``(N, W)`` per-sample predictions of ``N`` windows of ``W`` samples.
        starts: ``(N,)`` first sample of each window in the recording.
        total_len: length ``T`` of the recording in samples; window parts outside ``[0, T)``
            are ignored.
        fill_value: value of samples no window covers.

    Returns:
        float32 ``(T,)``: at each sample, the mean of the windows covering it.
    """
    acc = OverlapAdd(total_len)
    acc.add(probs, starts)
    return acc.result(fill_value)


def window_starts(n_times: int, window: int, stride: int) -> np.ndarray:
    """First samples of windows that cover ``[0, n_times)``.

    Windows start every ``stride`` samples; when the last one does not reach the end, one more
    window ends exactly at the end. A recording no longer than one window gets a single window
    starting at 0 (:func:`predict_proba_blocks` runs the model on the recording as it is).

    Returns:
        int64 ``(N,)``, increasing.
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1 sample, got {window}, {stride}")
    if n_times <= window:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n_times - window + 1, stride, dtype=np.int64)
    if starts[-1] + window < n_times:
        starts = np.append(starts, n_times - window)
    return starts


def predict_recording(
    model: nn.Module | Callable[[Tensor], Tensor],
    data: np.ndarray,
    window: int,
    stride: int,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool | str = False,
) -> np.ndarray:
    """Per-sample probabilities for a whole preprocessed recording.

    Args:
        model: maps ``(B, C, window)`` float32 to logits ``(B, window)``.
        data: ``(C, T)`` preprocessed signal.
        window, stride: in samples (``stride < window`` gives overlapping windows, averaged).
        batch_size: windows per forward pass.
        device: where the model runs; windows are moved there batch by batch.
        progress: show a tqdm bar (a string is used as its description).

    Returns:
        float32 ``(T,)`` probabilities in [0, 1].
    """
    data = np.asarray(data, dtype=np.float32)
    if data.ndim != 2:
        raise ValueError(f"data must be (C, T), got shape {data.shape}")
    return predict_recording_blocks(
        model, [data], data.shape[1], window, stride, batch_size, device, progress
    )


def predict_recording_blocks(
    model: nn.Module | Callable[[Tensor], Tensor],
    blocks: Iterable[np.ndarray],
    n_times: int,
    window: int,
    stride: int,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    progress: bool | str = False,
) -> np.ndarray:
    """:func:`predict_recording` for a recording that arrives as consecutive blocks.

    The same windows (:func:`window_starts` of ``n_times``) and the same result as
    :func:`predict_recording` on the concatenated blocks, with only the current block and less than
    one window of the previous one in memory.

    Args:
        blocks: ``(C, n_i)`` arrays whose lengths add up to ``n_times``.
        n_times: total length in samples.
        (others as :func:`predict_recording`.)

    Returns:
        float32 ``(n_times,)`` probabilities in [0, 1].

    Raises:
        ValueError: blocks of different channel counts or not adding up to ``n_times``.
    """
    import torch

    if n_times == 0:
        return np.zeros(0, dtype=np.float32)
    window = min(window, n_times)  # a short recording is one window of its own length
    starts = window_starts(n_times, window, stride)
    acc = OverlapAdd(n_times)
    if isinstance(model, torch.nn.Module):
        model.eval()
    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(starts),
        desc=progress if isinstance(progress, str) else "inference",
        unit="window",
        disable=not progress,
        leave=False,
    )

    def run(batch: list[np.ndarray], idx: list[int]) -> None:
        x = np.stack(batch)  # (B, C, window)
        with torch.no_grad():
            logits = model(torch.from_numpy(x).to(device))
        acc.add(torch.sigmoid(logits.float()).cpu().numpy(), np.asarray(idx))
        bar.update(len(idx))

    buf: np.ndarray | None = None  # samples [buf_start, buf_start + buf.shape[1])
    buf_start, seen, k = 0, 0, 0  # k: next window not yet cut out of the buffer
    pending, pending_idx = [], []
    for block in blocks:
        block = np.asarray(block, dtype=np.float32)
        if block.ndim != 2 or (buf is not None and block.shape[0] != buf.shape[0]):
            raise ValueError(f"blocks must be (C, n) with one C, got shape {block.shape}")
        buf = block if buf is None or buf.shape[1] == 0 else np.concatenate([buf, block], 1)
        seen += block.shape[1]
        if seen > n_times:
            raise ValueError(f"blocks hold more than n_times={n_times} samples")
        while k < len(starts) and starts[k] + window <= buf_start + buf.shape[1]:
            a = int(starts[k]) - buf_start
            pending.append(buf[:, a : a + window])
            pending_idx.append(int(starts[k]))
            k += 1
            if len(pending) == batch_size:
                run(pending, pending_idx)
                pending, pending_idx = [], []
        next_start = int(starts[k]) - buf_start if k < len(starts) else buf.shape[1]
        keep_from = min(next_start, buf.shape[1])
        if keep_from > 0:  # pending windows are views: copy them before dropping samples
            pending = [np.array(p) for p in pending]
            buf, buf_start = buf[:, keep_from:], buf_start + keep_from
    if seen != n_times:
        raise ValueError(f"blocks hold {seen} samples, expected n_times={n_times}")
    if pending:
        run(pending, pending_idx)
    bar.close()
    return acc.result()


def predict_recordings(
    model: nn.Module,
    recordings: Sequence,
    window: int,
    stride: int,
    batch_size: int = 8,
    device: str | torch.device = "cpu",
    mode: str = "onepass",
) -> list[np.ndarray]:
    """Per-sample probabilities ``(T,)`` of each recording (:func:`predict`).

    Args:
        recordings: objects with a preprocessed ``data (C, T)`` array, e.g.
            :class:`eegssm.data.recordings.EvalRecording`.
        (others as :func:`predict`.)

    The model runs in eval mode; its training flag is restored afterwards.
    """
    was_training = model.training
    model.eval()
    try:
        return [
            predict(model, r.data, window, stride, batch_size, device, mode=mode)
            for r in recordings
        ]
    finally:
        model.train(was_training)
