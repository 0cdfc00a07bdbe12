"""Which annotation labels count as seizure.

TUSZ labels (``seiz`` and the seizure types ``fnsz``, ``gnsz``, ...) and the HED-SCORE event
types used by BIDS / SzCORE (``sz``, ``sz_foc_ia``, ...) are seizure; every other label
(``bckg``, ``artf``, EDF+ free text such as ``T0``) is background unless the caller passes its own
label set.
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
