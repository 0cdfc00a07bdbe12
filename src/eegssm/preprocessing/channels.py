"""Channel-name normalisation: raw EDF labels → canonical 10-20 / 10-10 names.

Rules, applied in order to every raw label:

1. strip surrounding white space and a leading ``EEG`` prefix (``"EEG Fp1"``, ``"EEG FP1-REF"``);
2. strip a reference suffix ``-REF``, ``-LE``, ``-AR``, ``-AVG`` (TUSZ: ``"EEG T3-LE"``) and
   trailing dots (eegmmidb pads to 4 characters: ``"Fc5."``, ``"Cz.."``);
3. match case-insensitively against the standard 10-20/10-10 electrode names of mne's
   ``standard_1020`` layout and return its capitalisation (``FP1`` → ``Fp1``, ``fc5`` → ``FC5``);
4. map the new (10-10) temporal names to the old ones used by the 19-channel set:
   ``T7→T3``, ``T8→T4``, ``P7→T5``, ``P8→T6`` (``aliases=False`` turns this off).

Bipolar labels whose two sides are both electrodes (CHB-MIT ``"FP1-F7"``, ``"T7-P7"``) are
normalised side by side (``"Fp1-F7"``, ``"T3-T5"``); mne's running number for duplicated labels
(``"T8-P8-0"``) is dropped. Anything else (``"ECG ECG"``, ``"SPO2"``) keeps its label with only
the ``EEG`` prefix removed, and is reported as unrecognised.

If two raw labels end up with the same name, the first keeps it and later ones get ``-1``, ``-2``
... appended (mne's convention), with a warning (none for labels mne already numbered, such as
CHB-MIT's second ``T8-P8`` read as ``T8-P8-1``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from eegssm.io.types import Recording

#: The 94 electrode names of mne's standard 10-20 layout (``colin27_1020``, formerly
#: ``standard_1020``), in its capitalisation: the 10-20/10-10 system plus ``T3 T4 T5 T6 M1 M2
#: A1 A2``. Kept here so that names are normalised without importing mne (~0.25 s); a test
#: checks them against the installed mne's layout, which :func:`standard_positions` reads.
STANDARD_NAMES: tuple[str, ...] = (
    "Fp1", "Fpz", "Fp2", "AF9", "AF7", "AF5", "AF3", "AF1", "AFz", "AF2", "AF4", "AF6", "AF8",
    "AF10", "F9", "F7", "F5", "F3", "F1", "Fz", "F2", "F4", "F6", "F8", "F10", "FT9", "FT7",
    "FC5", "FC3", "FC1", "FCz", "FC2", "FC4", "FC6", "FT8", "FT10", "T9", "T7", "C5", "C3", "C1",
    "Cz", "C2", "C4", "C6", "T8", "T10", "TP9", "TP7", "CP5", "CP3", "CP1", "CPz", "CP2", "CP4",
    "CP6", "TP8", "TP10", "P9", "P7", "P5", "P3", "P1", "Pz", "P2", "P4", "P6", "P8", "P10",
    "PO9", "PO7", "PO5", "PO3", "PO1", "POz", "PO2", "PO4", "PO6", "PO8", "PO10", "O1", "Oz",
    "O2", "O9", "Iz", "O10", "T3", "T5", "T4", "T6", "M1", "M2", "A1", "A2",
)  # fmt: skip
_STANDARD = frozenset(STANDARD_NAMES)

#: New (10-10) → old (10-20) names for the four temporal/parietal electrodes that were renamed.
OLD_NAMES: dict[str, str] = {"T7": "T3", "T8": "T4", "P7": "T5", "P8": "T6"}

_PREFIX = re.compile(r"^EEG[\s_:]+", re.IGNORECASE)
_REF_SUFFIX = re.compile(r"[-_ ](REF|LE|AR|AVG)$", re.IGNORECASE)
_RUNNING_NUMBER = re.compile(r"-\d+$")


@lru_cache(maxsize=1)
def standard_positions() -> dict[str, tuple[float, float, float]]:
    """Canonical electrode name → 3-D head position (m) from mne's standard 10-20 layout.

    Uses ``colin27_1020`` where the installed mne has it (its new name), else ``standard_1020``.
    Both hold the 94 names of the 10-20/10-10 system plus ``T3 T4 T5 T6 A1 A2 M1 M2``.
    """
    import mne

    for kind in ("colin27_1020", "standard_1020"):
        if kind in mne.channels.get_builtin_montages():
            montage = mne.channels.make_standard_montage(kind)
            break
    else:  # pragma: no cover - every supported mne has one of the two
        raise RuntimeError("mne has no standard 10-20 montage")
    pos = montage.get_positions()["ch_pos"]
    return {name: tuple(float(v) for v in xyz) for name, xyz in pos.items()}


@lru_cache(maxsize=1)
def _canonical_by_lower() -> dict[str, str]:
    return {name.lower(): name for name in STANDARD_NAMES}


def _electrode(token: str, aliases: bool) -> str | None:
    """Canonical electrode name for one cleaned token, or None if it is not an electrode."""
    name = _canonical_by_lower().get(token.strip().rstrip(".").lower())
    if name is None:
        return None
    return OLD_NAMES.get(name, name) if aliases else name


def _strip(raw: str) -> str:
    name = _PREFIX.sub("", raw.strip())
    name = _REF_SUFFIX.sub("", name)
    return name.strip().rstrip(".").strip()


def normalize_name(raw: str, aliases: bool = True) -> str:
    """Normalised name of one raw channel label (see the module docstring for the rules).

    Args:
        raw: the label as found in the file, e.g. ``"EEG FP1-REF"``, ``"Fc5."``, ``"T7-P7"``.
        aliases: map ``T7 T8 P7 P8`` to ``T3 T4 T5 T6``.

    Returns:
        ``"Fp1"``, ``"FC5"``, ``"T3-T5"``; unrecognised labels without their ``EEG`` prefix.
    """
    name = _strip(raw)
    single = _electrode(name, aliases)
    if single is not None:
        return single
    bipolar = _RUNNING_NUMBER.sub("", name) if name.count("-") == 2 else name
    if bipolar.count("-") == 1:
        left, right = (_electrode(part, aliases) for part in bipolar.split("-"))
        if left is not None and right is not None:
            return f"{left}-{right}"
    return name


def is_electrode(name: str) -> bool:
    """True when ``name`` is a canonical single electrode with a standard position."""
    return name in _STANDARD


@dataclass
class ChannelMapping:
    """Result of :func:`normalize_channel_names`: which raw label became which name.

    Attributes:
        raw: the labels as given, in order.
        names: the normalised labels, same order and length, all distinct.
        unrecognised: raw labels that are neither an electrode nor an electrode pair.
        duplicates: raw labels whose normalised name was already taken (renamed ``name-k``).
    """

    raw: list[str]
    names: list[str]
    unrecognised: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    @property
    def mapping(self) -> dict[str, str]:
        """``{raw label: normalised name}`` for every channel."""
        return dict(zip(self.raw, self.names))

    @property
    def renamed(self) -> dict[str, str]:
        """Only the labels whose name changed."""
        return {r: n for r, n in zip(self.raw, self.names) if r != n}

    def table(self) -> str:
        """A two-column plain-text table ``raw -> name`` (unrecognised ones marked ``?``)."""
        width = max((len(r) for r in self.raw), default=0)
        rows = []
        for r, n in zip(self.raw, self.names):
            flag = "  ?" if r in self.unrecognised else ""
            rows.append(f"{r:<{width}} -> {n}{flag}")
        return "\n".join(rows)

    def __str__(self) -> str:
        return self.table()


def normalize_channel_names(raw_names: Sequence[str], aliases: bool = True) -> ChannelMapping:
    """Normalise a list of raw channel labels and report what became what.

    Args:
        raw_names: ``C`` labels as found in the file.
        aliases: map ``T7 T8 P7 P8`` to ``T3 T4 T5 T6``.

    Returns:
        A :class:`ChannelMapping` with ``C`` distinct ``names`` (duplicates renamed, warned).
    """
    names: list[str] = []
    seen: dict[str, int] = {}
    unrecognised: list[str] = []
    duplicates: list[str] = []
    for raw in raw_names:
        name = normalize_name(raw, aliases=aliases)
        if not is_electrode(name) and not is_pair(name):
            unrecognised.append(raw)
        if name in seen:
            seen[name] += 1
            if not _RUNNING_NUMBER.search(raw.strip()):  # mne's numbered duplicates are known
                duplicates.append(raw)
            new = f"{name}-{seen[name]}"
            while new in seen:
                seen[name] += 1
                new = f"{name}-{seen[name]}"
            name = new
        seen.setdefault(name, 0)
        names.append(name)
    if duplicates:
        warnings.warn(
            f"channel labels {duplicates} normalise to a name already taken; renamed with a "
            "running number (the first occurrence keeps the name)",
            UserWarning,
            stacklevel=2,
        )
    return ChannelMapping(list(raw_names), names, unrecognised, duplicates)


def is_pair(name: str) -> bool:
    """True when ``name`` is a normalised bipolar pair ``"X-Y"`` of two electrodes."""
    parts = name.split("-")
    return len(parts) == 2 and all(is_electrode(p) for p in parts)


def normalize_recording_channels(recording: Recording, aliases: bool = True) -> Recording:
    """The recording with normalised channel names (data shared, not copied).

    The raw → normalised table is stored in ``meta["channel_map"]`` (dict).
    """
    mapping = normalize_channel_names(recording.ch_names, aliases=aliases)
    meta = dict(recording.meta)
    meta["channel_map"] = mapping.mapping
    return recording.copy_with(ch_names=mapping.names, meta=meta)


def find_channels(names: Iterable[str], wanted: Iterable[str]) -> dict[str, int]:
    """Index of each wanted (normalised) name in ``names``; names not present are left out."""
    index = {n: i for i, n in enumerate(names)}
    return {w: index[w] for w in wanted if w in index}
