"""Montages: map a recording onto a fixed channel set.

Available (:func:`get_montage` names):

- ``"ref19"`` — the 19 referential 10-20 electrodes of the seizure detector (Brain-Go-Brr v4;
  SeizureTransformer, Wu et al. 2025), in the order Fp1 F3 C3 P3 F7 T3 T5 O1 Fz Cz Pz Fp2 F4 C4 P4
  F8 T4 T6 O2.
- ``"tcp"`` — the 22-channel temporal central parasagittal (TCP) bipolar montage in TUSZ's
  ``01_tcp_ar`` order (FP1-F7 ... P4-O2); output names are spelled as in TUSZ (upper case).
- ``"chbmit18"`` (alias ``"double_banana"``) — CHB-MIT's 18 bipolar double-banana channels;
  ``"chbmit23"`` — the full 23-channel CHB-MIT list (adds P7-T7, T7-FT9, FT9-FT10, FT10-T8 and a
  second T8-P8, named ``T8-P8-1`` as mne names the duplicate). Names are spelled as in CHB-MIT.
- ``"as_is"`` — keep every channel (names normalised).

Bipolar channels are ``anode − cathode``. A pair is taken, in this order of preference, from the two
referential electrodes, or from a channel already holding that pair (CHB-MIT files are stored
bipolar), or from the reversed pair negated.

Missing channels (``missing=``):

- ``"raise"`` — :class:`MissingChannelsError` naming what is missing and what was found;
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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from eegssm.io.types import Recording
from eegssm.preprocessing.channels import (
    is_electrode,
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

MissingPolicy = Literal["interpolate", "raise"]
EarPolicy = Literal["zero", "interpolate", "raise"]


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
    "chbmit18": _bipolar("chbmit18", CHBMIT_NAMES_18),
    "chbmit23": _bipolar("chbmit23", CHBMIT_NAMES_23),
    "as_is": Montage("as_is", "as_is", ()),
}
_ALIASES = {"double_banana": "chbmit18", "referential19": "ref19", "tcp_ar": "tcp"}


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
) -> Recording:
    """Map ``recording`` onto a montage's channels.

    Args:
        recording: ``(C, T)`` µV; channel names are normalised here (raw labels are fine).
        montage: a montage name (``"ref19"``, ``"tcp"``, ``"chbmit18"``, ``"chbmit23"``,
            ``"as_is"``) or a :class:`Montage`.
        missing: ``"interpolate"`` (spherical splines) or ``"raise"`` for missing electrodes.
        ears: policy for missing A1/A2 (``"zero"``, ``"interpolate"``, ``"raise"``).

    Returns:
        A recording ``(C_out, T)`` float32 with the montage's channel names. ``meta`` gains
        ``montage`` (name), ``interpolated`` (electrodes rebuilt), ``zeroed`` (channels set to 0)
        and ``channel_map`` (raw → normalised names).
    """
    mont = get_montage(montage)
    mapping = normalize_channel_names(recording.ch_names)
    names = mapping.names
    meta = dict(recording.meta, montage=mont.name, channel_map=mapping.mapping)
    if mont.kind == "as_is":
        data = np.asarray(recording.data, dtype=np.float32)
        return recording.copy_with(data=data, ch_names=list(names), meta=meta)

    index = {n: i for i, n in enumerate(names)}
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
    if missing not in ("interpolate", "raise"):
        raise ValueError(f"missing must be 'interpolate' or 'raise', got {missing!r}")
    if ears not in ("zero", "interpolate", "raise"):
        raise ValueError(f"ears must be 'zero', 'interpolate' or 'raise', got {ears!r}")
    absent = [e for e in needed if e not in index]
    absent_ears = [e for e in absent if e in _EARS]
    others = [e for e in absent if e not in _EARS]
    if others and missing == "raise":
        raise MissingChannelsError(mont.name, others, names)
    if absent_ears and ears == "raise":
        raise MissingChannelsError(mont.name, absent, names, "ears='raise'")
    zero_ears = absent_ears if ears == "zero" else []
    to_build = others + (absent_ears if ears == "interpolate" else [])

    interpolated: list[str] = []
    data = source = recording.data  # direct (bipolar) pairs always index ``source``
    if to_build:
        data, names = _interpolate(data, names, to_build, mont.name)
        index = {n: i for i, n in enumerate(names)}
        interpolated = list(to_build)

    n_out = len(mont.pairs)
    out = np.empty((n_out, data.shape[1]), dtype=np.float32)
    zeroed: list[str] = []
    for k, (a, c) in enumerate(mont.pairs):
        if (a, c) in direct:
            i, sign = direct[(a, c)]
            np.multiply(source[i], sign, out=out[k], casting="unsafe")
        elif a in zero_ears or c in zero_ears:
            out[k] = 0.0
            zeroed.append(mont.ch_names[k])
        elif c:
            np.subtract(data[index[a]], data[index[c]], out=out[k], casting="unsafe")
        else:
            out[k] = data[index[a]]
    if zeroed:
        warnings.warn(
            f"montage {mont.name!r}: ear electrodes {zero_ears} missing; {zeroed} set to 0",
            UserWarning,
            stacklevel=2,
        )
    meta.update(interpolated=interpolated, zeroed=zeroed)
    return recording.copy_with(data=out, ch_names=list(mont.ch_names), meta=meta)


def _interpolate(
    data: np.ndarray, names: list[str], targets: list[str], montage: str
) -> tuple[np.ndarray, list[str]]:
    """Append spherical-spline estimates of ``targets`` to the referential electrodes present.

    Returns ``(data', names')`` holding only the present electrodes followed by the targets.
    """
    import mne

    positions = standard_positions()
    unknown = [t for t in targets if t not in positions]
    if unknown:
        raise MissingChannelsError(
            montage, unknown, names, "no standard position to interpolate them from"
        )
    present = [i for i, n in enumerate(names) if is_electrode(n)]
    if len(present) < MIN_CHANNELS_FOR_INTERPOLATION:
        raise MissingChannelsError(
            montage,
            targets,
            names,
            f"interpolation needs at least {MIN_CHANNELS_FOR_INTERPOLATION} referential 10-20 "
            f"electrodes, found {len(present)}",
        )
    good_names = [names[i] for i in present]
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
    good = np.asarray(data[present], dtype=np.float32)
    built = (weights.astype(np.float32) @ good).astype(np.float32)
    return np.concatenate([good, built]), all_names
