"""Whole-recording inference: windows in, one probability trace out, memory bounded.

A per-sample model (``(B, C, W)`` → logits ``(B, W)``) is run over overlapping windows of a
preprocessed recording; window probabilities are averaged where windows overlap
(``postprocess.OverlapAdd``). Windows are views into the signal (no copy of the recording) and
are fed ``batch_size`` at a time, so memory is the recording plus two trace-length arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import Tensor, nn

from eegssm.postprocess import OverlapAdd


def window_starts(n_times: int, window: int, stride: int) -> np.ndarray:
    """First samples of windows that cover ``[0, n_times)``.

    Windows start every ``stride`` samples; when the last one does not reach the end, one more
    window ends exactly at the end. A recording shorter than one window gets a single window
    starting at 0 (the model sees it zero-padded).

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


@torch.no_grad()
def predict_proba(
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
    n_chans, n_times = data.shape
    if n_times == 0:
        return np.zeros(0, dtype=np.float32)
    if n_times < window:
        data = np.pad(data, ((0, 0), (0, window - n_times)))
    starts = window_starts(n_times, window, stride)
    views = sliding_window_view(data, window, axis=1)  # (C, n_positions, window), no copy
    acc = OverlapAdd(n_times)
    if isinstance(model, nn.Module):
        model.eval()
    from tqdm.auto import tqdm

    batches = range(0, len(starts), batch_size)
    bar = tqdm(
        batches,
        desc=progress if isinstance(progress, str) else "inference",
        unit="batch",
        disable=not progress,
        leave=False,
    )
    for i in bar:
        idx = starts[i : i + batch_size]
        x = np.ascontiguousarray(views[:, idx].transpose(1, 0, 2))  # (B, C, window)
        logits = model(torch.from_numpy(x).to(device))
        acc.add(torch.sigmoid(logits.float()).cpu().numpy(), idx)
    return acc.result()
