"""Which channels of a file are EEG, and selecting channels by name.

Names are checked token by token (split on anything that is not a letter or digit, upper-cased),
so ``ECG ECG``, ``EEG EKG1-REF``, ``EKG 2``, ``PHOTIC-REF`` and ``SpO2`` are recognised while
``EEG A2-A1`` (an ear-reference pair) and ``Fc5.`` stay EEG. Channel-name normalisation and
aliases (T7→T3, ...) belong to ``eegssm.preprocessing``, not here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: A name token that marks a channel as not EEG: cardiac, ocular, muscle, respiration, photic
#: stimulation, oximetry, TUSZ derived traces (IBI, BURSTS, SUPPR), markers, triggers, status,
#: annotations, vagus-nerve stimulator, DC inputs.
NON_EEG_TOKEN = re.compile(
    r"^(E[CK]G\d*|EOG\w*|LOC|ROC|EMG\w*|CHIN\d*|RESP\w*|THOR\w*|ABDO?\w*|FLOW|AIRFLOW|PHOTIC\w*"
    r"|SPO2|SAO2|HR|PULSE|PLETH|IBI|BURSTS|SUPPR|MK|MARKERS?|STATUS|TRIG\w*|EVENTS?|STI\d*"
    r"|ANNOTATIONS?|VNS|DC\d+)$"
)
#: Tokens that say nothing about the electrode (type prefix, reference suffix).
_NEUTRAL_TOKENS = frozenset({"EEG", "REF", "LE", "AR", "AVG"})
#: mne channel types that hold brain signals.
EEG_TYPES = frozenset({"eeg", "seeg", "ecog", "dbs"})


def is_non_eeg(name: str, ch_type: str | None = None) -> bool:
    """True when a channel is not EEG, judged by its name and (if given) its mne type.

    Also true for placeholder names without an electrode (``-``, ``--0``, ``1``, ``EEG 26-REF``).
    """
    if ch_type is not None and ch_type not in EEG_TYPES:
        return True
    tokens = [t for t in re.split(r"[^A-Z0-9]+", name.upper()) if t]
    if any(NON_EEG_TOKEN.match(t) for t in tokens):
        return True
    informative = [t for t in tokens if t not in _NEUTRAL_TOKENS]
    return all(t.isdigit() for t in informative)


def match_channels(available: Sequence[str], wanted: Sequence[str]) -> list[list[int]]:
    """Indices into ``available`` for each wanted name (case-insensitive, whitespace-trimmed).

    Several indices come back for a name that occurs more than once in a file.

    Raises:
        KeyError: listing the names not found (the caller turns it into a clear error).
    """
    index: dict[str, list[int]] = {}
    for i, name in enumerate(available):
        index.setdefault(name.strip().lower(), []).append(i)
    missing = [w for w in wanted if w.strip().lower() not in index]
    if missing:
        raise KeyError(missing)
    return [index[w.strip().lower()] for w in wanted]


def describe_missing(missing: Sequence[str], available: Sequence[str]) -> str:
    """Text for a missing-channel error: what is missing and what the file has."""
    return (
        f"channel(s) not found: {', '.join(missing)}; the file has {len(available)}: "
        f"{', '.join(available)}"
    )
