"""torch Datasets over a window cache built by :func:`eegssm.data.cache.build_cache`.

:class:`WindowDataset` concatenates the windows of the selected recordings (like
``torch.utils.data.ConcatDataset``: a cumulative-size index maps a global index to a recording
and a window). Arrays are memory-mapped lazily: each process (the main one, or each DataLoader
worker) opens a recording's three ``.npy`` files the first time it reads from them and keeps them
open; nothing is opened in ``__init__``, and open maps are not pickled to workers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from eegssm.data.manifest import Manifest, entry_window_classes


class WindowDataset(Dataset):
    """Windows of the cached recordings of one split and/or set of subjects.

    Args:
        cache_dir: a cache folder (with ``manifest.json``).
        split: TUSZ split (``"train"``, ``"dev"``, ``"eval"``) or None for all.
        subjects: subject ids to keep (e.g. from :func:`eegssm.data.split_by_subject`), or None.

    Items are ``(x, y, mask)``: ``x`` ``(C, W)`` float32 tensor, ``y`` ``(W,)`` float32 per-sample
    seizure labels in {0, 1}, ``mask`` ``(W,)`` bool (False on padding past the end of the
    recording). ``W`` = window samples at the cache's rate (``manifest.header["config"]``).

    Attributes:
        manifest: the loaded :class:`Manifest`.
        entries: the selected manifest entries, in index order.
        classes: ``(len(self),)`` int8 window classes (0 none, 1 partial, 2 full), for
            :class:`eegssm.data.sampling.BalancedSampler`.
        cumulative_sizes: ``(R,)`` int64 end index of each recording's windows.
    """

    def __init__(
        self,
        cache_dir: str | Path,
        split: str | None = None,
        subjects: list[str] | set[str] | None = None,
    ) -> None:
        self.manifest = Manifest.load(cache_dir)
        self.root = self.manifest.root
        self.entries = self.manifest.select(split=split, subjects=subjects)
        sizes = np.array([e["n_windows"] for e in self.entries], dtype=np.int64)
        self.cumulative_sizes = np.cumsum(sizes)
        self.classes = (
            np.concatenate([entry_window_classes(e) for e in self.entries])
            if self.entries
            else np.zeros(0, dtype=np.int8)
        )
        self._maps: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1]) if len(self.cumulative_sizes) else 0

    def locate(self, index: int) -> tuple[int, int]:
        """``(recording position in self.entries, window within it)`` of a global index."""
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {n} windows")
        rec = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = int(self.cumulative_sizes[rec - 1]) if rec else 0
        return rec, index - start

    def arrays(self, rec: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Read-only memory maps ``x (N, C, W)``, ``y (N, W)``, ``mask (N, W)`` of one recording,
        opened once per process."""
        if self._pid != os.getpid():  # forked into a worker: do not share the parent's maps
            self._maps, self._pid = {}, os.getpid()
        maps = self._maps.get(rec)
        if maps is None:
            files = self.entries[rec]["files"]
            maps = tuple(np.load(self.root / files[k], mmap_mode="r") for k in ("x", "y", "mask"))
            self._maps[rec] = maps
        return maps

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rec, win = self.locate(int(index))
        x, y, mask = self.arrays(rec)
        return (
            torch.from_numpy(np.array(x[win], dtype=np.float32)),
            torch.from_numpy(y[win].astype(np.float32)),
            torch.from_numpy(np.array(mask[win], dtype=bool)),
        )

    def window_info(self, index: int) -> dict[str, Any]:
        """Where window ``index`` comes from: ``source``, ``subject``, ``window`` (position in
        its recording), ``start_s`` (onset in seconds) and ``class`` name."""
        rec, win = self.locate(int(index))
        e = self.entries[rec]
        return {
            "source": e["source"],
            "subject": e["subject"],
            "window": win,
            "start_s": win * e["stride_samples"] / e["sfreq"],
            "class": e["classes"][win],
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_maps"] = {}  # memory maps are reopened in the receiving process
        return state
