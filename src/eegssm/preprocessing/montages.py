"""Montages: map a recording onto a fixed channel set.

Available (:func:`get_montage` names):

- ``"ref19"`` — the 19 referential 10-20 electrodes of the seizure detector (Brain-Go-Brr v4;
  SeizureTransformer, Wu et al. 2025), in the order Fp1 F3 C3 P3 F7 T3 T5 O1 Fz Cz Pz Fp2 F4 C4 P4
  F8 T4 T6 O2.
- ``"tcp"`` — the 22-channel temporal central parasagittal (TCP) bipolar montage in TUSZ's
  ``01_tcp_ar`` order (FP1-F7 ... P4-O2); output names are spelled as in TUSZ (upper case).
- ``"double_banana"`` (alias ``"chbmit18"``) — the 18-channel longitudinal bipolar montage that
  clinicians read (Fp1-F7 ... P8-O2, Fp1-F3 ... P4-O2, Fz-Cz, Cz-Pz), spelled and ordered as in
  CHB-MIT files, which record it directly; every referential 10-20 recording yields it by
  subtraction, whatever its reference (the reference cancels in a difference);
  ``"chbmit23"`` — the full 23-channel CHB-MIT list (adds P7-T7, T7-FT9, FT9-FT10, FT10-T8 and a
  second T8-P8, named ``T8-P8-1`` as mne names the duplicate). Names are spelled as in CHB-MIT.
- ``"as_is"`` — keep every channel (names normalised).

Bipolar channels are ``anode − cathode``. A pair is taken, in this order of preference, from the two
referential electrodes, or from a channel already holding that pair (CHB-MIT files are stored
bipolar), or from the reversed pair negated.

How the input is read (``input_montage=``, :func:`describe_input`): ``"auto"`` decides from the
labels. Single electrodes (``EEG FP1-REF``, ``Fp1``, ``FP1-LE``, ``EEG Fp1``) are referential
channels; labels ``X-R`` that share one second electrode ``R`` on at least three channels and half
of the pair-labelled channels (``Fp1-A1``, ``F3-A1``, ... or ``Fp1-Cz``, ...) are referential
channels against ``R`` (``R`` itself is then a zero channel); other ``X-Y`` labels are bipolar
derivations. ``"referential"`` always reads a common second electrode as the reference;
``"bipolar"`` never does.

Missing channels (``missing=``):

- ``"raise"`` — :class:`MissingChannelsError` naming what is missing and what was found;
- ``"drop"`` — output only the channels that can be made (``meta["dropped"]`` lists the others);
  more than ``max_missing`` dropped raises :class:`MissingChannelsError` naming them. For models
  whose weights do not depend on the channel count (the per-electrode seizure detector);
- ``"interpolate"`` — missing referential electrodes are rebuilt by mne's spherical-spline
  interpolation (``interpolate_bads``) from the electrodes present, using standard 10-20
  positions. Needs at least :data:`MIN_CHANNELS_FOR_INTERPOLATION` referential electrodes with known
  positions; pairs that can only come from bipolar channels cannot be interpolated and raise.

Ear electrodes (TCP's A1-T3 and T4-A2, ``ears=``): A1/A2 are absent from many files (TUSZ's
``03_tcp_ar_a`` configuration, eegmat's single ``A2-A1`` channel, every 10-10 cap). They lie below
the scalp grid, so spherical splines would extrapolate rather than interpolate. The default
``ears="zero"`` therefore fills a channel whose ear electrode is missing with zeros (a flat
channel, listed in ``meta["zeroed"]``, with a warning); ``"interpolate"`` extrapolates them by
splines anyway (whatever ``missing`` says) and ``"raise"`` raises :class:`MissingChannelsError`.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from eegssm.io.types import Recording
from eegssm.preprocessing.channels import (
    is_electrode,
    is_pair,
    normalize_channel_names,
    normalize_name,
    standard_positions,
)

#: The 19 referential electrodes of the seizure detector, in its order (Brain-Go-Brr v4).
REFERENTIAL_19: tuple[str, ...] = (
    "Fp1", "F3", "C3", "P3", "F7", "T3", "T5", "O1", "Fz", "Cz", "Pz",
    "Fp2", "F4", "C4", "P4", "F8", "T4", "T6", "O2",
)  # fmt: skip

#: TUSZ 01_tcp_ar montage, 22 channels, as spelled in TUSZ files.
TCP_NAMES: tuple[str, ...] = (
    "FP1-F7", "F7-T3", "T3-T5", "T5-O1", "FP2-F8", "F8-T4", "T4-T6", "T6-O2",
    "A1-T3", "T3-C3", "C3-CZ", "CZ-C4", "C4-T4", "T4-A2",
    "FP1-F3", "F3-C3", "C3-P3", "P3-O1", "FP2-F4", "F4-C4", "C4-P4", "P4-O2",
)  # fmt: skip

#: CHB-MIT channel list (chb01-summary.txt), 23 channels, as spelled in CHB-MIT files.
CHBMIT_NAMES_23: tuple[str, ...] = (
    "FP1-F7", "F7-T7", "T7-P7", "P7-O1", "FP1-F3", "F3-C3", "C3-P3", "P3-O1",
    "FP2-F4", "F4-C4", "C4-P4", "P4-O2", "FP2-F8", "F8-T8", "T8-P8", "P8-O2",
    "FZ-CZ", "CZ-PZ", "P7-T7", "T7-FT9", "FT9-FT10", "FT10-T8", "T8-P8-1",
)  # fmt: skip

#: The 18-channel CHB-MIT double banana (the first 18 of the list above).
CHBMIT_NAMES_18: tuple[str, ...] = CHBMIT_NAMES_23[:18]

#: Fewest referential electrodes with positions accepted for spherical-spline interpolation.
MIN_CHANNELS_FOR_INTERPOLATION = 8

_EARS = frozenset({"A1", "A2"})

#: A common second electrode must label at least this many channels to be read as the reference.
MIN_COMMON_REFERENCE = 3

MissingPolicy = Literal["interpolate", "raise", "drop"]
EarPolicy = Literal["zero", "interpolate", "raise"]
InputMontage = Literal["auto", "referential", "bipolar"]
INPUT_MONTAGES: tuple[str, ...] = ("auto", "referential", "bipolar")


class MissingChannelsError(ValueError):
    """A montage needs channels the recording does not have.

    Attributes:
        montage: montage name.
        missing: the electrodes (or pairs) not found.
        found: the recording's normalised channel names.
    """

    def __init__(self, montage: str, missing: Sequence[str], found: Sequence[str], why: str = ""):
        self.montage = montage
        self.missing = list(missing)
        self.found = list(found)
        super().__init__(
            f"montage {montage!r}: missing {self.missing}; found {self.found}"
            + (f" ({why})" if why else "")
        )


@dataclass(frozen=True)
class Montage:
    """A fixed output channel set.

    Attributes:
        name: registry name (``"ref19"``, ``"tcp"``, ...).
        kind: ``"referential"``, ``"bipolar"`` or ``"as_is"``.
        ch_names: output channel names, in order.
        pairs: for bipolar montages, ``(anode, cathode)`` as canonical electrode names (old
            temporal names, see :mod:`eegssm.preprocessing.channels`); for referential ones,
            ``(electrode, "")``.
    """

    name: str
    kind: Literal["referential", "bipolar", "as_is"]
    ch_names: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...] = ()

    @property
    def electrodes(self) -> tuple[str, ...]:
        """Distinct referential electrodes the montage is built from, in first-use order."""
        out: dict[str, None] = {}
        for a, c in self.pairs:
            out[a] = None
            if c:
                out[c] = None
        return tuple(out)


def _bipolar(name: str, labels: Sequence[str]) -> Montage:
    pairs = []
    for label in labels:
        pair = normalize_name(label)  # drops a running number, maps T7 -> T3, FP1 -> Fp1
        a, c = pair.split("-")
        pairs.append((a, c))
    return Montage(name, "bipolar", tuple(labels), tuple(pairs))


_REF_PAIRS = tuple((e, "") for e in REFERENTIAL_19)
MONTAGES: dict[str, Montage] = {
    "ref19": Montage("ref19", "referential", REFERENTIAL_19, _REF_PAIRS),
    "tcp": _bipolar("tcp", TCP_NAMES),
    "double_banana": _bipolar("double_banana", CHBMIT_NAMES_18),
    "chbmit23": _bipolar("chbmit23", CHBMIT_NAMES_23),
    "as_is": Montage("as_is", "as_is", ()),
}
_ALIASES = {
    "chbmit18": "double_banana",
    "longitudinal_bipolar": "double_banana",
    "referential19": "ref19",
    "tcp_ar": "tcp",
}


@dataclass(frozen=True)
class InputDescription:
    """How a recording's channels were read (:func:`describe_input`).

    Attributes:
        kind: ``"referential"``, ``"bipolar"`` or ``"none"`` (no 10-20 electrode recognised).
        reference: the common second electrode read as the reference (``"A1"``, ``"Cz"``), or
            None (referential labels without one, e.g. ``FP1-REF``, ``Fp1``; or bipolar input).
        electrodes: referential electrodes found (normalised names).
        derivations: distinct bipolar derivations found (normalised ``"X-Y"``; a repeated one,
            such as CHB-MIT's second ``T8-P8``, counts once).
        ignored: raw labels that are neither (ECG, VNS, ``-``, ...).
    """

    kind: str
    reference: str | None
    electrodes: tuple[str, ...]
    derivations: tuple[str, ...]
    ignored: tuple[str, ...]

    def summary(self) -> str:
        """One line, e.g. ``bipolar (18 derivations; ignored: ECG, VNS)``."""
        if self.kind == "referential":
            ref = f", reference {self.reference}" if self.reference else ""
            text = f"referential ({len(self.electrodes)} electrodes{ref}"
        elif self.kind == "bipolar":
            text = f"bipolar ({len(self.derivations)} derivations"
        else:
            text = "no 10-20 channels (" + f"{len(self.ignored)} other channels"
        if self.ignored and self.kind != "none":
            shown = ", ".join(self.ignored[:6]) + (" ..." if len(self.ignored) > 6 else "")
            text += f"; ignored: {shown}"
        return text + ")"


def _common_reference(pairs: Sequence[str]) -> tuple[str | None, int]:
    """The most frequent second electrode of ``X-Y`` pairs and how many pairs it labels."""
    cathodes = Counter(p.split("-")[1] for p in pairs)
    if not cathodes:
        return None, 0
    return cathodes.most_common(1)[0]


def _read_input(names: Sequence[str], input_montage: str) -> tuple[str | None, list[str]]:
    """``(reference, kind)`` for normalised names under ``input_montage`` (see module doc)."""
    if input_montage not in INPUT_MONTAGES:
        raise ValueError(f"input montage must be one of {INPUT_MONTAGES}, got {input_montage!r}")
    pairs = [n for n in names if is_pair(n)]
    ref, count = _common_reference(pairs)
    if input_montage == "bipolar" or ref is None:
        return None, pairs
    if input_montage == "referential" or (
        count >= MIN_COMMON_REFERENCE and 2 * count >= len(pairs)
    ):
        return ref, pairs
    return None, pairs


def describe_input(ch_names: Sequence[str], input_montage: str = "auto") -> InputDescription:
    """How :func:`apply_montage` reads these (raw) channel labels (module docstring)."""
    from eegssm.io.channels import is_non_eeg

    mapping = normalize_channel_names(ch_names)
    names = mapping.names
    ref, pairs = _read_input(names, input_montage)
    electrodes = [n for n in names if is_electrode(n)]
    derivations: list[str] = []
    for p in pairs:
        anode, cathode = p.split("-")
        if ref is not None and cathode == ref:
            electrodes.append(anode)
        else:
            derivations.append(p)

    def known(n: str) -> bool:  # an electrode, a pair, or a numbered duplicate of one
        return is_electrode(n) or is_pair(n) or is_pair(re.sub(r"-\d+$", "", n))

    ignored = [raw for raw, n in zip(ch_names, names) if not known(n) or is_non_eeg(raw)]
    if electrodes and (ref is not None or len(electrodes) >= len(derivations)):
        kind = "referential"
    elif derivations:
        kind = "bipolar"
    else:
        kind = "none"
    return InputDescription(kind, ref, tuple(electrodes), tuple(derivations), tuple(ignored))


def get_montage(name: str | Montage) -> Montage:
    """The montage called ``name`` (see the module docstring), or ``name`` itself if a Montage."""
    if isinstance(name, Montage):
        return name
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in MONTAGES:
        raise ValueError(f"unknown montage {name!r}; choose from {sorted(MONTAGES)}")
    return MONTAGES[key]


def apply_montage(
    recording: Recording,
    montage: str | Montage = "ref19",
    missing: MissingPolicy = "interpolate",
    ears: EarPolicy = "zero",
    input_montage: InputMontage = "auto",
    max_missing: int | None = None,
) -> Recording:
    """Map ``recording`` onto a montage's channels.

    Args:
        recording: ``(C, T)`` µV; channel names are normalised here (raw labels are fine).
        montage: a montage name (``"ref19"``, ``"tcp"``, ``"double_banana"``, ``"chbmit23"``,
            ``"as_is"``) or a :class:`Montage`.
        missing: ``"interpolate"`` (spherical splines), ``"raise"`` or ``"drop"`` for channels
            that cannot be made from the recording.
        ears: policy for missing A1/A2 (``"zero"``, ``"interpolate"``, ``"raise"``).
        input_montage: how the labels are read: ``"auto"``, ``"referential"``, ``"bipolar"``
            (module docstring).
        max_missing: with ``missing="drop"``, the most output channels that may be dropped
            (None: any number, but at least one channel must remain).

    Returns:
        A recording ``(C_out, T)`` float32 with the montage's channel names (fewer with
        ``missing="drop"``). ``meta`` gains ``montage`` (name), ``input`` (how the labels were
        read, :meth:`InputDescription.summary`), ``interpolated`` (electrodes rebuilt),
        ``zeroed`` (channels set to 0), ``dropped`` (channels left out) and ``channel_map``
        (raw → normalised names).

    Raises:
        MissingChannelsError: channels that cannot be made (``missing="raise"``, too many to drop,
            or nothing to interpolate from), naming them and what the recording has.
    """
    mont = get_montage(montage)
    mapping = normalize_channel_names(recording.ch_names)
    names = list(mapping.names)
    meta = dict(recording.meta, montage=mont.name, channel_map=mapping.mapping)
    meta["input"] = describe_input(recording.ch_names, input_montage).summary()
    if mont.kind == "as_is":
        data = np.asarray(recording.data, dtype=np.float32)
        return recording.copy_with(data=data, ch_names=list(names), meta=meta)
    if missing not in ("interpolate", "raise", "drop"):
        raise ValueError(f"missing must be 'interpolate', 'raise' or 'drop', got {missing!r}")
    if ears not in ("zero", "interpolate", "raise"):
        raise ValueError(f"ears must be 'zero', 'interpolate' or 'raise', got {ears!r}")

    source = recording.data
    index = {n: i for i, n in enumerate(names)}
    reference, _ = _read_input(names, input_montage)
    if reference is not None:  # "X-R" channels are electrode X against the common reference R
        for i, n in enumerate(names):
            if is_pair(n) and n.endswith(f"-{reference}"):
                index.setdefault(n.split("-")[0], i)
        if reference not in index:  # the reference against itself: a zero channel
            source = np.concatenate([source, np.zeros((1, source.shape[1]), source.dtype)])
            index[reference] = source.shape[0] - 1
    found = sorted(index, key=index.get)

    needed = mont.electrodes
    # Pairs available directly as bipolar channels need no referential electrodes.
    direct: dict[tuple[str, str], tuple[int, float]] = {}
    if mont.kind == "bipolar":
        for a, c in mont.pairs:
            if a in index and c in index:
                continue
            if f"{a}-{c}" in index:
                direct[(a, c)] = (index[f"{a}-{c}"], 1.0)
            elif f"{c}-{a}" in index:
                direct[(a, c)] = (index[f"{c}-{a}"], -1.0)
        needed = tuple(
            dict.fromkeys(e for a, c in mont.pairs if (a, c) not in direct for e in (a, c) if e)
        )
    absent = [e for e in needed if e not in index]
    absent_ears = [e for e in absent if e in _EARS]
    others = [e for e in absent if e not in _EARS]
    if others and missing == "raise":
        raise MissingChannelsError(mont.name, others, found)
    if absent_ears and ears == "raise":
        raise MissingChannelsError(mont.name, absent, found, "ears='raise'")
    zero_ears = absent_ears if ears == "zero" else []
    to_build = (others if missing == "interpolate" else []) + (
        absent_ears if ears == "interpolate" else []
    )

    interpolated: list[str] = []
    if to_build:
        electrodes = {n: i for n, i in index.items() if is_electrode(n)}
        built = _interpolate(source, electrodes, to_build, mont.name, found)
        index.update({t: source.shape[0] + k for k, t in enumerate(to_build)})
        source = np.concatenate([np.asarray(source, dtype=np.float32), built])
        interpolated = list(to_build)

    rows: list[tuple[int, str, tuple]] = []  # (output position, name, how)
    dropped: list[str] = []
    for k, (a, c) in enumerate(mont.pairs):
        label = mont.ch_names[k]
        if (a, c) in direct:
            rows.append((k, label, ("direct", *direct[(a, c)])))
        elif a in zero_ears or c in zero_ears:
            rows.append((k, label, ("zero",)))
        elif a in index and (not c or c in index):
            rows.append((k, label, ("pair", index[a], index[c] if c else None)))
        else:
            dropped.append(label)
    if dropped:
        lost = [e for e in absent if e not in zero_ears] or dropped
        if not rows or (max_missing is not None and len(dropped) > max_missing):
            limit = "none may be" if max_missing == 0 else f"at most {max_missing} may be"
            why = f"cannot make {dropped}" + ("" if not rows else f"; {limit} left out")
            raise MissingChannelsError(mont.name, lost, found, why)
    out = np.empty((len(rows), source.shape[1]), dtype=np.float32)
    zeroed: list[str] = []
    for j, (_, label, how) in enumerate(rows):
        if how[0] == "direct":
            np.multiply(source[how[1]], how[2], out=out[j], casting="unsafe")
        elif how[0] == "zero":
            out[j] = 0.0
            zeroed.append(label)
        elif how[2] is not None:
            np.subtract(source[how[1]], source[how[2]], out=out[j], casting="unsafe")
        else:
            out[j] = source[how[1]]
    if zeroed:
        warnings.warn(
            f"montage {mont.name!r}: ear electrodes {zero_ears} missing; {zeroed} set to 0",
            UserWarning,
            stacklevel=2,
        )
    meta.update(interpolated=interpolated, zeroed=zeroed, dropped=dropped)
    return recording.copy_with(data=out, ch_names=[r[1] for r in rows], meta=meta)


def _interpolate(
    data: np.ndarray,
    electrodes: dict[str, int],
    targets: list[str],
    montage: str,
    found: Sequence[str],
) -> np.ndarray:
    """Spherical-spline estimates ``(len(targets), T)`` float32 of ``targets`` from the
    referential electrodes present (``electrodes``: name → row of ``data``)."""
    import mne

    positions = standard_positions()
    unknown = [t for t in targets if t not in positions]
    if unknown:
        raise MissingChannelsError(
            montage, unknown, found, "no standard position to interpolate them from"
        )
    if len(electrodes) < MIN_CHANNELS_FOR_INTERPOLATION:
        raise MissingChannelsError(
            montage,
            targets,
            found,
            f"interpolation needs at least {MIN_CHANNELS_FOR_INTERPOLATION} referential 10-20 "
            f"electrodes, found {len(electrodes)}",
        )
    good_names = list(electrodes)
    all_names = good_names + list(targets)
    info = mne.create_info(all_names, sfreq=1000.0, ch_types="eeg")
    montage_obj = mne.channels.make_dig_montage(
        ch_pos={n: np.asarray(positions[n]) for n in all_names}, coord_frame="head"
    )
    # Interpolation is a fixed (n_bad x n_good) matrix: estimate it on a short dummy signal,
    # then apply it to the whole recording with one matrix product (no copy of T samples in mne).
    eye = np.zeros((len(all_names), len(good_names)))
    eye[: len(good_names)] = np.eye(len(good_names))
    raw = mne.io.RawArray(eye, info, verbose="error")
    raw.set_montage(montage_obj, verbose="error")
    raw.info["bads"] = list(targets)
    raw.interpolate_bads(reset_bads=True, verbose="error")
    weights = raw.get_data()[len(good_names) :]  # (n_bad, n_good): column j = response to good j
    good = np.asarray(data[list(electrodes.values())], dtype=np.float32)
    return (weights.astype(np.float32) @ good).astype(np.float32)
