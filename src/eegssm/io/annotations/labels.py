"""Which annotation labels count as seizure, and which a reference file may hold.

TUSZ labels (``seiz`` and the seizure types ``fnsz``, ``gnsz``, ...) and the HED-SCORE event
types used by BIDS / SzCORE (``sz``, ``sz_foc_ia``, ...) are seizure; every other label
(``bckg``, ``artf``, EDF+ free text such as ``T0``) is background unless the caller passes its own
label set.

Reference files (csv_bi, TUSZ csv, SzCORE events.tsv) may hold only known labels
(:func:`is_known_label`): a typo such as ``siez`` would otherwise score as background and the
seizure would silently vanish from the reference. :func:`check_label` raises an error naming the
file and line, and applies a user's label map first (``--label-map siez=seiz``). EDF+
annotations are free text and are not checked.
"""

from __future__ import annotations

from collections.abc import Iterable

#: TUSZ labels that count as seizure: the bi-class ``seiz`` and the TUSZ v2 seizure types
#: (generalised / focal non-specific, complex / simple partial, absence, tonic-clonic, tonic,
#: myoclonic, clonic, atonic).
SEIZURE_LABELS: frozenset[str] = frozenset(
    {"seiz", "gnsz", "fnsz", "cpsz", "absz", "spsz", "tcsz", "tnsz", "mysz", "cnsz", "atsz"}
)

#: Background label used when filling gaps between seizures (TUSZ and SzCORE).
BACKGROUND_LABEL = "bckg"


#: Non-seizure labels of the TUH corpora (TUSZ background; TUAR artifacts, also joined with
#: ``_`` such as ``eyem_musc``; TUEV event classes).
OTHER_TUH_LABELS: frozenset[str] = frozenset(
    {"bckg", "null", "artf", "eyem", "chew", "shiv", "musc", "elpp", "elec", "spsw", "gped", "pled"}
)


def is_known_label(label: str) -> bool:
    """True for labels a reference file may hold: TUSZ seizure types and background, TUH
    artifact and event classes (joined with ``_`` too), HED-SCORE ``sz`` / ``sz_*``."""
    name = normalize_label(label)
    if name in SEIZURE_LABELS or name in OTHER_TUH_LABELS:
        return True
    if name == "sz" or name.startswith("sz_"):
        return True
    parts = name.split("_")
    return len(parts) > 1 and all(p in OTHER_TUH_LABELS for p in parts)


def check_label(
    label: str, path: object, lineno: int, label_map: dict[str, str] | None = None
) -> str:
    """The normalised label of a reference-file row, mapped by ``label_map`` (lower-case
    old → new).

    Raises:
        EEGReadError: a label that is not known after mapping, naming the file and the line.
    """
    from eegssm.io.errors import EEGReadError

    name = normalize_label(label)
    if label_map:
        name = label_map.get(name, name)
    if not is_known_label(name):
        raise EEGReadError(
            path,
            f"line {lineno}: unknown label {label.strip()!r} (known: seiz, bckg, the TUSZ seizure "
            "types fnsz, gnsz, ..., HED-SCORE sz, sz_*)",
            f"fix the file, or map the label: --label-map {name}=seiz (or =bckg)",
        )
    return name


def normalize_label(label: str) -> str:
    """Label as stored on an ``Event``: stripped and lower-cased (``"SEIZ "`` → ``"seiz"``)."""
    return label.strip().lower()


def is_seizure(label: str, seizure_labels: Iterable[str] | None = None) -> bool:
    """True when ``label`` denotes a seizure.

    Args:
        label: an event label (any case).
        seizure_labels: labels to treat as seizure instead of the default rule (TUSZ
            :data:`SEIZURE_LABELS`, plus HED-SCORE ``sz`` and ``sz_*``).
    """
    name = normalize_label(label)
    if seizure_labels is not None:
        return name in {normalize_label(s) for s in seizure_labels}
    return name in SEIZURE_LABELS or name == "sz" or name.startswith("sz_")
