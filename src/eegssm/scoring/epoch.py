"""NEDC EPOCH scoring of the seizure class.

Ref and hyp are sampled every ``epoch_s`` seconds at the epoch centres
``epoch_s/2 + k*epoch_s`` (while ``<= duration``); a sample exactly on a boundary takes the label
of the event that ends there. Counts are epochs: targets = reference seizure epochs, hits = seizure
in both, misses = reference seizure / hyp background, false alarms = reference background / hyp
seizure. The false-alarm rate is in false-alarm *seconds* per 24 h.
"""

from __future__ import annotations

import numpy as np

from eegssm.scoring.counting import Counts
from eegssm.scoring.segments import SeizureTrack, check_limits, labels_at

METHOD = "EPOCH"

#: NEDC default epoch length in seconds (``nedc_eeg_eval_params_v00.toml``).
EPOCH_S = 0.25


def epoch_times(duration: float, epoch_s: float = EPOCH_S) -> np.ndarray:
    """Epoch centres ``epoch_s/2 + k*epoch_s <= duration`` in seconds, shape ``(E,)``."""
    n = int(np.floor((duration - epoch_s / 2.0) / epoch_s)) + 1
    t = epoch_s / 2.0 + np.arange(max(n + 1, 0)) * epoch_s
    return t[t <= duration]


def score(ref: SeizureTrack, hyp: SeizureTrack, epoch_s: float = EPOCH_S) -> Counts:
    """EPOCH counts of one file (durations are assumed to agree)."""
    check_limits(ref, hyp)
    t = epoch_times(ref.duration, epoch_s)
    r = labels_at(ref, t)
    h = labels_at(hyp, t)
    n_hit = int(np.count_nonzero(r & h))
    n_ref = int(np.count_nonzero(r))
    return Counts(
        targets=n_ref,
        hits=n_hit,
        misses=n_ref - n_hit,
        false_alarms=int(np.count_nonzero(h & ~r)),
        duration_s=ref.duration,
        fa_unit_s=epoch_s,
    )
