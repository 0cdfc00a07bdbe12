"""Montages: referential selection, bipolar differences, CHB-MIT layouts, missing-channel policy."""

from __future__ import annotations

import warnings

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
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # mne's numbered duplicate T8-P8-1 is expected: no warning
        out = apply_montage(rec, "chbmit18", missing="raise")
        full = apply_montage(rec, "chbmit23", missing="raise")
    np.testing.assert_array_equal(out.data, rec.data[:18])
    np.testing.assert_array_equal(full.data, rec.data)
    # no referential electrodes to build ref19 from
    with pytest.raises(MissingChannelsError):
        apply_montage(rec, "ref19", missing="interpolate")


def _first_npy(shared_data):
    return sorted(p.name for p in (shared_data / "chbmit_clips" / "chb01" / "ictal").glob("*.npy"))[
        0
    ]


# -- any montage in: reading the input's labels ---------------------------------------------
DOUBLE_BANANA_PAIRS = get_montage("double_banana").pairs


def _referential_truth(seed=3, n_times=300):
    """Potentials of the 19 electrodes plus the ears, against an ideal zero reference."""
    rng = np.random.default_rng(seed)
    names = list(REFERENTIAL_19) + ["A1", "A2"]
    return names, (rng.standard_normal((len(names), n_times)) * 30).astype(np.float32)


def _expected_banana(names, truth):
    row = {n: truth[i] for i, n in enumerate(names)}
    return np.stack([row[a] - row[c] for a, c in DOUBLE_BANANA_PAIRS])


@pytest.mark.parametrize(
    "style",
    ["EEG {u}-REF", "{n}", "{u}-LE", "EEG {n}", "EEG {u}-AR", "{n}-A1", "{n}-Cz", "{n}-AVG"],
)
def test_double_banana_from_any_referential_label_style(style):
    names, truth = _referential_truth()
    ref = {"{n}-A1": "A1", "{n}-Cz": "Cz"}.get(style)
    # what the amplifier stored: each electrode minus the reference electrode (or an average)
    base = truth[names.index(ref)] if ref else truth[:19].mean(0)
    stored = truth[:19] - base
    labels = [style.format(n=n, u=n.upper()) for n in REFERENTIAL_19]
    keep = [i for i, n in enumerate(REFERENTIAL_19) if n != ref]  # "Cz-Cz" is not recorded
    rec = Recording(stored[keep], 256.0, [labels[i] for i in keep] + [], meta={"source": "x"})
    rec = rec.copy_with(
        data=np.concatenate([rec.data, truth[-1:]]), ch_names=[*rec.ch_names, "ECG ECG"]
    )
    out = apply_montage(rec, "double_banana", missing="raise")
    assert out.ch_names == list(CHBMIT_NAMES_23[:18])
    np.testing.assert_allclose(out.data, _expected_banana(names, truth), atol=1e-3)
    assert out.meta["input"].startswith("referential")
    if ref:
        assert f"reference {ref}" in out.meta["input"]


def test_describe_input_kinds():
    from eegssm.preprocessing.montages import describe_input

    chb = [*CHBMIT_NAMES_23[:14], "T8-P8-0", *CHBMIT_NAMES_23[15:22], "T8-P8-1"]
    chb += ["-", "--0", "ECG", "VNS", "LOC-ROC"]
    d = describe_input(chb)
    assert d.kind == "bipolar" and d.reference is None and len(d.derivations) == 22
    assert set(d.ignored) == {"-", "--0", "ECG", "VNS", "LOC-ROC"}
    assert "ignored: -" in d.summary()
    tusz = [f"EEG {n.upper()}-REF" for n in REFERENTIAL_19] + ["EEG A1-REF", "EEG EKG1-REF"]
    d = describe_input(tusz)
    assert d.kind == "referential" and len(d.electrodes) == 20 and d.ignored == ("EEG EKG1-REF",)
    eegmat = [f"EEG {n}" for n in REFERENTIAL_19] + ["EEG A2-A1", "ECG ECG"]
    assert describe_input(eegmat).kind == "referential"
    ears = [f"{n}-A2" for n in REFERENTIAL_19]
    d = describe_input(ears)
    assert d.kind == "referential" and d.reference == "A2"
    assert describe_input(ears, "bipolar").kind == "bipolar"
    assert describe_input(["ECG", "SpO2"]).kind == "none"
    with pytest.raises(ValueError, match="input montage"):
        describe_input(ears, "sideways")


def test_chbmit_file_with_junk_channels_gives_the_double_banana():
    labels = [*CHBMIT_NAMES_23[:14], "T8-P8-0", *CHBMIT_NAMES_23[15:22], "T8-P8-1"]
    labels += ["-", "--0", "ECG", "VNS"]
    rec = _rec(labels)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = apply_montage(rec, "double_banana", missing="drop", max_missing=4)
    assert out.ch_names == list(CHBMIT_NAMES_23[:18]) and out.meta["dropped"] == []
    np.testing.assert_array_equal(out.data, rec.data[:18])


def test_bipolar_input_forced_referential_reads_a_common_second_electrode():
    # only two channels share "F7": auto reads a chain, "referential" insists on a reference
    rec = _rec(["FP1-F7", "T3-F7", "C3-P3"])
    auto = apply_montage(rec, "double_banana", missing="drop")
    assert auto.meta["input"].startswith("bipolar")
    forced = apply_montage(rec, "double_banana", missing="drop", input_montage="referential")
    assert "reference F7" in forced.meta["input"]
    k = list(forced.ch_names).index("F7-T7")  # F7 - T3 = 0 - (T3 - F7)
    np.testing.assert_array_equal(forced.data[k], -rec.data[1])


def test_drop_leaves_out_what_cannot_be_made_and_names_it_past_the_limit():
    tcp = [n for n in TCP_NAMES]  # a recording stored in TUSZ's TCP bipolar montage
    rec = _rec(tcp)
    out = apply_montage(rec, "double_banana", missing="drop", max_missing=4)
    assert out.meta["dropped"] == ["FZ-CZ", "CZ-PZ"]
    assert len(out.ch_names) == 16
    np.testing.assert_array_equal(out.data[0], rec.data[TCP_NAMES.index("FP1-F7")])
    with pytest.raises(MissingChannelsError, match="FZ-CZ") as info:
        apply_montage(rec, "double_banana", missing="drop", max_missing=1)
    assert "at most 1" in str(info.value)
    few = _rec(["FP1-F7", "ECG"])
    with pytest.raises(MissingChannelsError, match="F7-T7"):
        apply_montage(few, "double_banana", missing="drop", max_missing=4)
    with pytest.raises(MissingChannelsError):
        apply_montage(_rec(["ECG", "EMG"]), "double_banana", missing="drop")


def test_siena_header_gives_the_double_banana(shared_data):
    from eegssm.io import read_recording

    path = sorted((shared_data / "annotation_formats" / "siena").rglob("*.edf"))[0]
    rec = read_recording(path)
    out = apply_montage(rec, "double_banana", missing="drop", max_missing=0)
    assert out.ch_names == list(CHBMIT_NAMES_23[:18])
    assert out.meta["input"].startswith("referential")
