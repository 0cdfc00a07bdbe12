"""Masked reconstruction: hide random time spans of the input, predict them.

A U-Net that sees its whole input can learn to copy it through the full-resolution skip; hiding
spans (and scoring the reconstruction on them) forces the model to use context instead.

Spans are placed on a randomly shifted grid of slots of ``span`` samples; ``round(ratio · n)`` of
the ``n`` slots are hidden. Every sample is hidden with probability ``k / n ≈ ratio``, spans never
overlap, and adjacent hidden slots merge into longer gaps.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def span_mask(
    batch: int,
    n_times: int,
    span: int,
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Random boolean mask of hidden time spans.

    Args:
        batch: rows ``B`` (each row gets its own spans).
        n_times: samples ``T``.
        span: span length in samples (``≥ 1``).
        ratio: expected fraction of hidden samples, in ``[0, 1]``.
        generator: a seeded ``torch.Generator`` (on ``device``) for reproducible masks.
        device: where to build the mask.

    Returns:
        ``(B, T)`` bool, True where a sample is hidden.
    """
    if span < 1:
        raise ValueError(f"span must be >= 1 sample, got {span}")
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    n_slots = math.ceil(n_times / span) + 1  # one extra slot absorbs the random shift
    k = round(ratio * n_slots)
    order = torch.rand(batch, n_slots, generator=generator, device=device).argsort(dim=1)
    hidden = order < k  # (B, n_slots): exactly k random slots per row
    ext = hidden.repeat_interleave(span, dim=1)  # (B, n_slots · span)
    shift = torch.randint(0, span, (batch, 1), generator=generator, device=device)
    idx = shift + torch.arange(n_times, device=device)  # (B, T)
    return ext.gather(1, idx)


def mask_spans(
    x: Tensor,
    span: int,
    ratio: float,
    generator: torch.Generator | None = None,
    per_channel: bool = False,
    fill: float = 0.0,
    of_batch: tuple[int, slice] | None = None,
) -> tuple[Tensor, Tensor]:
    """Hide random time spans of a batch of signals.

    Args:
        x: ``(B, C, T)`` signals.
        span: span length in samples (e.g. ``round(1.0 * sfreq)`` for 1 s spans).
        ratio: expected fraction of hidden samples.
        generator: seeded ``torch.Generator`` for reproducible masks.
        per_channel: draw spans independently per channel (mask ``(B, C, T)``) instead of the
            same spans for all channels (mask ``(B, T)``).
        fill: value written into hidden samples (0 = the mean of a normalised signal).
        of_batch: ``(n, rows)`` when ``x`` holds the rows ``rows`` of a batch of ``n`` windows
            (one rank's shard in data-parallel training): masks are drawn for all ``n`` windows,
            the random draws of a single process on the whole batch, and those of ``rows`` kept.

    Returns:
        ``(x_masked (B, C, T), mask)`` with ``mask`` bool ``(B, T)`` (or ``(B, C, T)`` when
        ``per_channel``), True where hidden.
    """
    B, C, T = x.shape
    n, rows = (B, slice(None)) if of_batch is None else of_batch
    if per_channel:
        mask = span_mask(n * C, T, span, ratio, generator, x.device).reshape(n, C, T)[rows]
        hidden = mask
    else:
        mask = span_mask(n, T, span, ratio, generator, x.device)[rows]
        hidden = mask[:, None, :]
    if mask.shape[0] != B:
        raise ValueError(f"of_batch rows select {mask.shape[0]} windows, x has {B}")
    return x.masked_fill(hidden, fill), mask
