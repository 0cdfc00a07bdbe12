"""Montages: referential selection, bipolar differences, CHB-MIT layouts, missing-channel policy."""

from __future__ import annotations

import numpy as np
import pytest

from eegssm.io.types import Recording
from eegssm.preprocessing.channels import standard_positions
from eegssm.preprocessing.montages import (
    CHBMIT_NAMES_23,
    REFERENTIAL_19,
    TCP_NAMES,
    MissingChannelsError,
    apply_montage,
    get_montage,
)

EXTRA = ("A1", "A2")


def _rec(names, n_times=200, seed=0, labels=None):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(names), n_times)).astype(np.float32) * 20
    return Recording(data, 256.0, list(labels or names))


def _row(rec, name):
    return rec.data[rec.ch_names.index(name)]


def test_ref19_selects_and_orders_from_prefixed_names():
    names = list(reversed(REFERENTIAL_19)) + ["ECG"]
    rec = _rec(names, labels=[f"EEG {n.upper()}-REF" for n in names[:-1]] + ["ECG ECG"])
    out = apply_montage(rec, "ref19", missing="raise")
    assert out.ch_names == list(REFERENTIAL_19)
    assert out.data.dtype == np.float32
    for i, name in enumerate(REFERENTIAL_19):
        np.testing.assert_array_equal(out.data[i], rec.data[names.index(name)])
    assert out.meta["montage"] == "ref19" and out.meta["interpolated"] == []


def test_tcp_is_difference_of_the_right_pairs():
    names = list(REFERENTIAL_19) + list(EXTRA)
    rec = _rec(names)
    out = apply_montage(rec, "tcp", missing="raise")
    assert out.ch_names == list(TCP_NAMES) and len(TCP_NAMES) == 22
    expected = {"FP1-F7": ("Fp1", "F7"), "A1-T3": ("A1", "T3"), "T4-A2": ("T4", "A2")}
    expected |= {"C3-CZ": ("C3", "Cz"), "P4-O2": ("P4", "O2"), "T3-T5": ("T3", "T5")}
    for label, (a, c) in expected.items():
        got = out.data[out.ch_names.index(label)]
        np.testing.assert_array_equal(got, _row(rec, a) - _row(rec, c))


def test_tcp_zeroes_missing_ears_by_default():
    rec = _rec(REFERENTIAL_19)
    with pytest.warns(UserWarning, match="A1"):
        out = apply_montage(rec, "tcp", missing="raise")
    assert out.meta["zeroed"] == ["A1-T3", "T4-A2"]
    assert not out.data[TCP_NAMES.index("A1-T3")].any()
    assert out.data[TCP_NAMES.index("T3-C3")].any()
    with pytest.raises(MissingChannelsError, match="A1"):
        apply_montage(rec, "tcp", missing="interpolate", ears="raise")


def test_tcp_ears_can_be_extrapolated():
    out = apply_montage(_rec(REFERENTIAL_19), "tcp", missing="raise", ears="interpolate")
    assert out.meta["interpolated"] == ["A1", "A2"] and out.meta["zeroed"] == []
    assert out.data[TCP_NAMES.index("A1-T3")].any() and out.data[TCP_NAMES.index("T4-A2")].any()


def test_double_banana_from_10_10_names():
    names = [n for n in standard_positions() if n not in ("T3", "T4", "T5", "T6")]
    rec = _rec(names)
    out = apply_montage(rec, "double_banana", missing="raise")
    assert out.ch_names == list(CHBMIT_NAMES_23[:18])
    np.testing.assert_array_equal(out.data[1], _row(rec, "F7") - _row(rec, "T7"))  # F7-T7
    np.testing.assert_array_equal(out.data[14], _row(rec, "T8") - _row(rec, "P8"))  # T8-P8
    full = apply_montage(rec, "chbmit23", missing="raise")
    assert full.ch_names == list(CHBMIT_NAMES_23)
    np.testing.assert_array_equal(full.data[20], _row(rec, "FT9") - _row(rec, "FT10"))
    np.testing.assert_array_equal(full.data[22], full.data[14])


def test_bipolar_channels_are_taken_directly_or_negated():
    labels = ["FP1-F7", "T7-F7", "Cz"]  # second one stored reversed
    rec = _rec(labels)
    mont = get_montage("chbmit18")
    partial = type(mont)("two", "bipolar", ("FP1-F7", "F7-T7"), mont.pairs[:2])
    out = apply_montage(rec, partial, missing="raise")
    np.testing.assert_array_equal(out.data[0], rec.data[0])
    np.testing.assert_array_equal(out.data[1], -rec.data[1])


def test_direct_pairs_survive_interpolation_of_others():
    names = [n for n in REFERENTIAL_19 if n != "Cz"]
    rec = _rec(names + ["FZ-CZ"])  # Cz only inside a stored bipolar channel
    out = apply_montage(rec, "chbmit18", missing="interpolate")
    assert out.meta["interpolated"] == ["Cz"]  # CZ-PZ needs it
    np.testing.assert_array_equal(out.data[CHBMIT_NAMES_23.index("FZ-CZ")], rec.data[-1])
    np.testing.assert_array_equal(out.data[0], _row(rec, "Fp1") - _row(rec, "F7"))


def test_missing_raise_names_missing_and_found():
    names = [n for n in REFERENTIAL_19 if n not in ("Cz", "O2")]
    with pytest.raises(MissingChannelsError) as info:
        apply_montage(_rec(names), "ref19", missing="raise")
    assert info.value.missing == ["Cz", "O2"]
    assert "Cz" in str(info.value) and "Fp1" in str(info.value)


def test_interpolation_rebuilds_a_smooth_field():
    pos = standard_positions()
    names = list(REFERENTIAL_19)
    t = np.arange(512) / 256.0
    # A smooth spatial pattern (left-right and front-back gradients) times two time courses.
    field = np.array([[pos[n][0], pos[n][1]] for n in names]) * 1000.0
    data = (field @ np.stack([np.sin(2 * np.pi * 5 * t), np.cos(2 * np.pi * 3 * t)])).astype(
        np.float32
    )
    full = Recording(data, 256.0, names)
    keep = [i for i, n in enumerate(names) if n != "C3"]
    partial = Recording(data[keep], 256.0, [names[i] for i in keep])
    out = apply_montage(partial, "ref19", missing="interpolate")
    assert out.meta["interpolated"] == ["C3"]
    k = names.index("C3")
    true, est = full.data[k], out.data[k]
    assert np.corrcoef(true, est)[0, 1] > 0.98
    assert np.sqrt(np.mean((true - est) ** 2)) < 0.25 * np.sqrt(np.mean(true**2))
    others = [i for i in range(19) if i != k]
    np.testing.assert_array_equal(out.data[others], full.data[others])


def test_interpolation_needs_enough_electrodes():
    with pytest.raises(MissingChannelsError, match="at least"):
        apply_montage(_rec(["Fp1", "Fp2", "Cz"]), "ref19", missing="interpolate")


def test_as_is_keeps_every_channel():
    rec = _rec(["a"] * 3, labels=["EEG FP1-REF", "Fc5.", "ECG ECG"])
    out = apply_montage(rec, "as_is")
    assert out.ch_names == ["Fp1", "FC5", "ECG ECG"]
    np.testing.assert_array_equal(out.data, rec.data)


def test_unknown_montage():
    with pytest.raises(ValueError, match="unknown montage"):
        get_montage("banana")


def test_real_chbmit_clip_double_banana(shared_data):
    clip = np.load(shared_data / "chbmit_clips" / "chb01" / "ictal" / _first_npy(shared_data))
    labels = [n if n != "T8-P8" else "T8-P8-0" for n in CHBMIT_NAMES_23[:-1]] + ["T8-P8-1"]
    rec = Recording(clip.astype(np.float32), 256.0, labels)
    with pytest.warns(UserWarning, match="already taken"):
        out = apply_montage(rec, "chbmit18", missing="raise")
    np.testing.assert_array_equal(out.data, rec.data[:18])
    with pytest.warns(UserWarning, match="already taken"):
        full = apply_montage(rec, "chbmit23", missing="raise")
    np.testing.assert_array_equal(full.data, rec.data)
    # no referential electrodes to build ref19 from
    with pytest.raises(MissingChannelsError), pytest.warns(UserWarning, match="already taken"):
        apply_montage(rec, "ref19", missing="interpolate")


def _first_npy(shared_data):
    return sorted(p.name for p in (shared_data / "chbmit_clips" / "chb01" / "ictal").glob("*.npy"))[
        0
    ]
