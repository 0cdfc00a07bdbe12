"""Cache builder and manifest, torch Datasets, balanced sampling, synthetic recordings.

| module | owns |
|---|---|
| ``discovery`` | finding recordings, their sidecar annotations, subject ids and TUSZ splits |
| ``atomic`` | crash-safe JSON / ``.npy`` writes (temporary file + ``os.replace``) |
| ``manifest`` | cache layout, ``Manifest``, per-recording fragments, ``split_by_subject`` |
| ``cache`` | ``build_cache`` (resumable, atomic, parallel) |
| ``dataset`` | ``WindowDataset`` (lazy memory maps; imports torch) |
| ``recordings`` | ``EvalRecording`` (whole labelled recordings) from the cache or annotated files |
| ``sampling`` | ``BalancedSampler`` (imports torch) |
| ``synthetic`` | seeded synthetic EEG with seizures, EDF + csv_bi writer |

Names are imported on first use, so ``import eegssm.data`` loads neither torch nor mne.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "build_cache": "eegssm.data.cache",
    "BuildReport": "eegssm.data.cache",
    "Manifest": "eegssm.data.manifest",
    "split_by_subject": "eegssm.data.manifest",
    "summarize": "eegssm.data.manifest",
    "WindowDataset": "eegssm.data.dataset",
    "EvalRecording": "eegssm.data.recordings",
    "recordings_from_cache": "eegssm.data.recordings",
    "BalancedSampler": "eegssm.data.sampling",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eegssm.data' has no attribute {name!r}")
