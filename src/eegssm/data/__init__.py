"""The data layer: one cache of preprocessed recordings, window datasets over it, sampling.

- ``discovery``: finding recordings, their sidecar annotations, subject ids, TUSZ splits,
  classes;
- ``manifest``: cache layout, ``Manifest``, per-recording fragments, window classes from the
  manifest, ``split_by_subject``;
- ``cache``: ``build_cache`` (resumable, atomic, parallel, sharded), ``merge_shards``;
- ``recordings``: ``CachedRecording`` (one recording's continuous signal and labels by name),
  ``EvalRecording``;
- ``dataset``: ``WindowDataset`` (windows cut when read from the memory maps), ``ArrayWindows``
  (imports torch);
- ``sampling``: ``BalancedSampler`` (imports torch);
- ``synthetic``: seeded synthetic EEG with seizures, EDF + csv_bi writer.

Names are imported on first use, so ``import eegssm.data`` loads neither torch nor mne.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "build_cache": "eegssm.data.cache",
    "merge_shards": "eegssm.data.cache",
    "BuildReport": "eegssm.data.cache",
    "CacheWriteError": "eegssm.data.cache",
    "Manifest": "eegssm.data.manifest",
    "split_by_subject": "eegssm.data.manifest",
    "summarize": "eegssm.data.manifest",
    "WindowDataset": "eegssm.data.dataset",
    "ArrayWindows": "eegssm.data.dataset",
    "CachedRecording": "eegssm.data.recordings",
    "cached_recording": "eegssm.data.recordings",
    "cached_recordings": "eegssm.data.recordings",
    "EvalRecording": "eegssm.data.recordings",
    "recordings_from_cache": "eegssm.data.recordings",
    "BalancedSampler": "eegssm.data.sampling",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eegssm.data' has no attribute {name!r}")
