"""Balanced window sampling for seizure detection (as in Brain-Go-Brr v4).

Seizure windows are rare (TUSZ: a few percent of the time), so each epoch draws a fixed mix:
a share of the partial-seizure windows (onsets and offsets, the most informative; all of them by
default), a share of the full-seizure windows, and background windows in proportion to the
seizure windows drawn. The draw is reseeded every epoch from ``(seed, epoch)``, so it is
deterministic for a seed and differs between epochs; :meth:`BalancedSampler.set_epoch` sets the
epoch as ``DistributedSampler`` does.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from eegssm.config.data import SamplingConfig
from eegssm.preprocessing.windowing import WindowClass

#: Default shares (defined once, in :mod:`eegssm.config.data`).
_SHARES = SamplingConfig()

_NAMES = {"none": WindowClass.NONE, "partial": WindowClass.PARTIAL, "full": WindowClass.FULL}


class BalancedSampler(Sampler[int]):
    """Per-epoch mix of partial, full and background windows, split across ranks.

    Args:
        classes: ``(N,)`` window class per dataset index (0/1/2 or ``"none"``/``"partial"``/
            ``"full"``), e.g. ``WindowDataset.classes``.
        partial: share of the partial windows drawn per epoch (1.0 = all; above 1 repeats
            windows: 2.0 draws each twice, 1.5 each once plus half of them again).
        full: share of the full-seizure windows drawn per epoch (same rule).
        background_ratio: background windows drawn per seizure window drawn (capped at the
            number of background windows; drawn without replacement). When the data hold no
            seizure window at all, every background window is drawn (with a warning).
        seed: base seed; the epoch's draw uses ``(seed, epoch)``.
        num_replicas, rank: split each epoch's shuffled draw across ``num_replicas`` processes
            (this one is ``rank``): the draw is padded by repeating its start to a multiple of
            ``num_replicas`` (or cut, with ``drop_last``) and rank ``r`` takes items
            ``r, r + num_replicas, ...``. Every rank has the same length.
        drop_last: cut instead of pad when splitting across ranks.

    State is the three per-class index arrays plus a few numbers; nothing is stored per epoch.
    """

    def __init__(
        self,
        classes: Sequence[int] | Sequence[str] | np.ndarray,
        partial: float = _SHARES.partial,
        full: float = _SHARES.full,
        background_ratio: float = _SHARES.background_ratio,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ) -> None:
        if min(partial, full, background_ratio) < 0:
            raise ValueError("partial, full and background_ratio must be non-negative")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need 0 <= rank < num_replicas, got rank {rank} of {num_replicas}")
        codes = _as_codes(classes)
        self.n_items = len(codes)
        self.index = {c: np.flatnonzero(codes == c).astype(np.int64) for c in WindowClass}
        self.partial, self.full, self.background_ratio = partial, full, background_ratio
        self.seed, self.epoch = int(seed), 0
        self.num_replicas, self.rank, self.drop_last = num_replicas, rank, drop_last
        self.counts = {
            WindowClass.PARTIAL: _share_count(len(self.index[WindowClass.PARTIAL]), partial),
            WindowClass.FULL: _share_count(len(self.index[WindowClass.FULL]), full),
        }
        n_seizure = self.counts[WindowClass.PARTIAL] + self.counts[WindowClass.FULL]
        n_background = len(self.index[WindowClass.NONE])
        n_available = len(self.index[WindowClass.PARTIAL]) + len(self.index[WindowClass.FULL])
        if n_available == 0 and n_background:
            warnings.warn(
                "BalancedSampler: no seizure window in the data; sampling every background window",
                stacklevel=2,
            )
            self.counts[WindowClass.NONE] = n_background
        else:
            self.counts[WindowClass.NONE] = min(
                n_background, int(round(background_ratio * n_seizure))
            )

    @property
    def epoch_size(self) -> int:
        """Windows drawn per epoch over all ranks (before padding or cutting)."""
        return int(sum(self.counts.values()))

    def __len__(self) -> int:
        n = self.epoch_size
        if self.drop_last:
            return n // self.num_replicas
        return math.ceil(n / self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        """Use the draw of ``epoch`` on the next iteration (call before each epoch)."""
        self.epoch = int(epoch)

    def draw(self, epoch: int | None = None) -> np.ndarray:
        """The shuffled ``(epoch_size,)`` int64 indices of one epoch, over all ranks."""
        rng = np.random.default_rng([self.seed, self.epoch if epoch is None else epoch])
        parts = [
            _take(rng, self.index[c], self.counts[c])
            for c in (WindowClass.PARTIAL, WindowClass.FULL, WindowClass.NONE)
        ]
        drawn = np.concatenate(parts)
        return drawn[rng.permutation(len(drawn))]

    def __iter__(self) -> Iterator[int]:
        drawn = self.draw()
        per_rank = len(self)
        total = per_rank * self.num_replicas
        if total > len(drawn) and len(drawn):
            drawn = np.resize(drawn, total)  # repeats from the start
        drawn = drawn[:total]
        return iter(drawn[self.rank :: self.num_replicas].tolist())

    def state_dict(self) -> dict[str, Any]:
        """``seed`` and ``epoch`` (the class arrays come from the dataset)."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


def _as_codes(classes: Sequence[int] | Sequence[str] | np.ndarray) -> np.ndarray:
    arr = np.asarray(classes)
    if arr.dtype.kind in "US":
        try:
            return np.array([_NAMES[str(c).lower()] for c in arr], dtype=np.int8)
        except KeyError as exc:
            raise ValueError(f"unknown window class {exc.args[0]!r}") from None
    codes = arr.astype(np.int8)
    if codes.size and not np.isin(codes, [int(c) for c in WindowClass]).all():
        raise ValueError("window classes must be 0 (none), 1 (partial) or 2 (full)")
    return codes


def _share_count(n: int, share: float) -> int:
    """How many of ``n`` items a share draws (rounded to the nearest integer)."""
    return int(round(n * share))


def _take(rng: np.random.Generator, items: np.ndarray, k: int) -> np.ndarray:
    """``k`` of ``items``: whole copies of ``items`` then a random subset without replacement."""
    if k == 0 or len(items) == 0:
        return np.zeros(0, dtype=np.int64)
    whole, rest = divmod(k, len(items))
    return np.concatenate([np.tile(items, whole), rng.choice(items, rest, replace=False)])
