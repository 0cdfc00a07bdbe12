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


def parse_channel_map(items: Sequence[str] | str | None) -> dict[str, str]:
    """``["EEG 1=Fp1", "EEG 2=Fp2,EEG 3=F3"]`` → ``{"EEG 1": "Fp1", ...}`` (``--rename``).

    Each item is ``OLD=NEW``; an item may hold several, comma-separated.

    Raises:
        ValueError: an item without ``=``, an empty name, or one OLD given twice.
    """
    if items is None:
        return {}
    if isinstance(items, str):
        items = [items]
    out: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            if not part.strip():
                continue
            old, sep, new = part.partition("=")
            if not sep or not old.strip() or not new.strip():
                raise ValueError(f"channel rename {part!r}: expected OLD=NEW, e.g. 'EEG 1=Fp1'")
            if old.strip() in out:
                raise ValueError(f"channel rename: {old.strip()!r} is renamed twice")
            out[old.strip()] = new.strip()
    return out


def rename_channels(
    names: Sequence[str], channel_map: dict[str, str] | None, source: object = None
) -> list[str]:
    """``names`` with ``channel_map`` (old → new) applied.

    Old names match case-insensitively and ignoring surrounding whitespace; names not in the map
    are kept.

    Raises:
        EEGReadError: an old name that is not among ``names`` (listing those available), or
            two channels ending up with the same name.
    """
    from eegssm.io.errors import EEGReadError

    names = list(names)
    if not channel_map:
        return names
    try:
        groups = match_channels(names, list(channel_map))
    except KeyError as exc:
        raise EEGReadError(
            source, describe_missing(exc.args[0], names), "check the --rename / channel_map names"
        ) from None
    out = list(names)
    for new, group in zip(channel_map.values(), groups):
        for i in group:
            out[i] = new
    new_twice = _duplicates(out) - _duplicates(names)  # a file may hold duplicates already
    if new_twice:
        raise EEGReadError(
            source,
            f"renaming gives duplicate channel name(s): {', '.join(sorted(new_twice))}",
            "each channel needs its own name",
        )
    return out


def _duplicates(names: Sequence[str]) -> set[str]:
    seen: set[str] = set()
    twice: set[str] = set()
    for name in names:
        key = name.strip().lower()
        (twice if key in seen else seen).add(key)
    return twice


def describe_missing(missing: Sequence[str], available: Sequence[str]) -> str:
    """Text for a missing-channel error: what is missing and what the file has."""
    return (
        f"channel(s) not found: {', '.join(missing)}; the file has {len(available)}: "
        f"{', '.join(available)}"
    )
