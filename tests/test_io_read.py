"""Reading EDF / EDF+ / BDF recordings into ``Recording`` (real files and generated ones)."""

from __future__ import annotations

import datetime as dt
import warnings

import edfio
import mne
import numpy as np
import pytest

from eegssm.io import TERM, EEGReadError, EEGReadWarning, Event, read_recording
from eegssm.io.channels import is_non_eeg
from eegssm.io.edf_header import read_edf_header


def _signal(label, sfreq, seconds, amp=50.0, freq=5.0, dim="uV"):
    t = np.arange(int(seconds * sfreq)) / sfreq
    return edfio.EdfSignal(
        np.sin(2 * np.pi * freq * t) * amp, sfreq, label=label, physical_dimension=dim
    )


def _write(path, signals, annotations=()):
    edf = edfio.Edf(
        signals,
        starttime=dt.time(13, 43, 4),
        recording=edfio.Recording(startdate=dt.date(2021, 5, 6)),
        patient=edfio.Patient(code="sub-07"),
        annotations=[edfio.EdfAnnotation(*a) for a in annotations],
    )
    edf.write(path)
    return path


def test_eegmat_drops_ecg_keeps_reference_pair(shared_data):
    rec = read_recording(shared_data / "eegmat" / "Subject00_1.edf")
    assert rec.n_channels == 20
    assert "ECG ECG" not in rec.ch_names and "EEG A2-A1" in rec.ch_names
    assert rec.ch_names[0] == "EEG Fp1"
    assert rec.sfreq == 500.0 and rec.data.dtype == np.float32
    assert rec.duration == pytest.approx(182.0)
    assert rec.meta["duration"] == pytest.approx(182.0)
    assert rec.meta["source"].endswith("Subject00_1.edf")
    # signals are in microvolts: scalp EEG is tens of µV, not 1e-5 V
    assert 5.0 < float(np.std(rec.data[0])) < 500.0
    all_ch = read_recording(shared_data / "eegmat" / "Subject00_1.edf", drop_non_eeg=False)
    assert all_ch.n_channels == 21 and all_ch.ch_names[-1] == "ECG ECG"


def test_eegmmidb_edf_plus_events(shared_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = read_recording(shared_data / "eegmmidb_S001" / "S001R03.edf")
    assert rec.n_channels == 64 and rec.sfreq == 160.0
    labels = {ev.label for ev in rec.events}
    assert labels == {"T0", "T1", "T2"}  # EDF+ labels keep their case
    assert rec.events[0] == Event(0.0, 4.2, "T0", TERM, 1.0)
    assert all(0 <= ev.start <= ev.stop <= rec.duration for ev in rec.events)
    assert rec.meta["start_time"] == "2009-08-12T16:15:00"


def test_eegmmidb_short_run_clips_annotation_with_warning(shared_data):
    path = shared_data / "eegmmidb_S001" / "S001R01.edf"
    with pytest.warns(EEGReadWarning, match="past the end") as rec_w:
        rec = read_recording(path)
    assert str(path) in str(rec_w[0].message)
    assert rec.duration == 60.0 and rec.events[-1].stop == 60.0


def test_channel_selection_case_insensitive_and_ordered(shared_data):
    path = shared_data / "eegmat" / "Subject00_1.edf"
    rec = read_recording(path, channels=["eeg cz", "EEG FP1", "ECG ECG"])
    assert rec.ch_names == ["EEG Cz", "EEG Fp1", "ECG ECG"]
    full = read_recording(path, drop_non_eeg=False)
    np.testing.assert_array_equal(rec.data[1], full.data[0])


def test_unknown_channel_names_error(shared_data):
    path = shared_data / "eegmat" / "Subject00_1.edf"
    with pytest.raises(EEGReadError) as info:
        read_recording(path, channels=["EEG Fp1", "T7", "Oz"])
    msg = str(info.value)
    assert str(path) in msg and "T7, Oz" in msg and "EEG Fp1" in msg and "21" in msg


def test_siena_and_chbmit_headers(shared_data):
    siena = read_recording(shared_data / "annotation_formats/siena/PN00/PN00-1.edf")
    assert siena.sfreq == 512.0 and siena.n_channels == 29
    assert not any(is_non_eeg(n) for n in siena.ch_names)
    assert siena.meta["start_time"].endswith("19:39:33")  # = registration start in the list
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # T8-P8 twice is CHB-MIT's layout: numbered, no warning
        chb = read_recording(shared_data / "annotation_formats/chbmit/chb05/chb05_06.edf")
    assert chb.n_channels == 23 and chb.ch_names[-1] == "T8-P8-1"
    assert chb.meta["start_time"].endswith("22:21:25")  # = File Start Time in the summary


def test_generated_edf_plus_round_values(tmp_path):
    path = _write(
        tmp_path / "gen.edf",
        [
            _signal("EEG Fp1-REF", 256, 8),
            _signal("EEG EKG1-REF", 256, 8, amp=800),
            _signal("PHOTIC-REF", 256, 8),
        ],
        annotations=[(1.5, 2.0, "SEIZ"), (6.0, None, "Eyes Closed")],
    )
    rec = read_recording(path)
    assert rec.ch_names == ["EEG Fp1-REF"]
    t = np.arange(8 * 256) / 256
    np.testing.assert_allclose(rec.data[0], np.sin(2 * np.pi * 5 * t) * 50, atol=0.01)
    assert rec.events == [Event(1.5, 3.5, "SEIZ"), Event(6.0, 6.0, "Eyes Closed")]  # case kept
    assert rec.meta["start_time"] == "2021-05-06T13:43:04"
    assert rec.meta["subject"] == "sub-07"
    assert rec.meta["format"] == "EDF+C"


def test_millivolt_signals_are_converted(tmp_path):
    path = _write(tmp_path / "mv.edf", [_signal("C3", 100, 2, amp=0.05, dim="mV")])
    rec = read_recording(path)
    assert float(np.max(np.abs(rec.data))) == pytest.approx(50.0, rel=1e-3)


def test_mixed_sampling_rates_warn(tmp_path):
    path = _write(tmp_path / "mixed.edf", [_signal("Fp1", 256, 4), _signal("T3", 128, 4)])
    with pytest.warns(EEGReadWarning, match=r"different sampling rates.*256 Hz: T3 128 Hz"):
        rec = read_recording(path)
    assert rec.sfreq == 256.0 and rec.n_times == 1024
    assert rec.meta["native_sfreq"] == {"Fp1": 256.0, "T3": 128.0}
    # a slow non-EEG channel is dropped before mne resamples: no warning, rate of the EEG
    path = _write(tmp_path / "resp.edf", [_signal("Fp1", 256, 4), _signal("Resp", 512, 4)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = read_recording(path)
    assert rec.sfreq == 256.0 and rec.ch_names == ["Fp1"]


def test_bdf_and_mne_raw(tmp_path):
    info = mne.create_info(["Fp1", "Cz", "EOG1"], 128.0, ["eeg", "eeg", "eog"])
    data = np.random.default_rng(0).normal(scale=20e-6, size=(3, 512))
    raw = mne.io.RawArray(data, info, verbose=False)
    rec = read_recording(raw)
    assert rec.ch_names == ["Fp1", "Cz"] and rec.meta["source"] is None
    np.testing.assert_allclose(rec.data, data[:2] * 1e6, rtol=1e-5)
    path = tmp_path / "x.bdf"
    mne.export.export_raw(path, raw, fmt="bdf", verbose=False)
    bdf = read_recording(path)
    assert read_edf_header(path).kind.startswith("BDF")
    assert bdf.ch_names == ["Fp1", "Cz"]
    np.testing.assert_allclose(bdf.data, data[:2] * 1e6, atol=0.01)


@pytest.mark.parametrize(
    "name, non_eeg",
    [
        ("ECG ECG", True),
        ("EKG EKG", True),
        ("EEG EKG1-REF", True),
        ("EEG ROC-REF", True),
        ("EMG-REF", True),
        ("PHOTIC-REF", True),
        ("Resp", True),
        ("SPO2", True),
        ("HR", True),
        ("MK", True),
        ("EDF Annotations", True),
        ("1", True),
        ("--0", True),
        ("-", True),
        ("EEG 26-REF", True),
        ("IBI", True),
        ("Status", True),
        ("EEG A2-A1", False),
        ("EEG Fp1", False),
        ("Fc5.", False),
        ("EEG T3-REF", False),
        ("FP1-F7", False),
        ("T8-P8-1", False),
        ("Cz", False),
        ("EEG F10", False),
    ],
)
def test_non_eeg_names(name, non_eeg):
    assert is_non_eeg(name) is non_eeg


def test_nan_and_flat_channels_warn_but_read(tmp_path):
    info = mne.create_info(["Fp1", "Cz", "Pz"], 100.0, "eeg")
    data = np.random.default_rng(1).normal(scale=1e-5, size=(3, 300))
    data[1] = 2e-6
    data[2, 10:20] = np.nan
    raw = mne.io.RawArray(data, info, verbose=False)
    with pytest.warns(EEGReadWarning) as caught:
        rec = read_recording(raw)
    text = " | ".join(str(w.message) for w in caught)
    assert "flat channel(s) (constant value): Cz" in text
    assert "non-finite samples (NaN/inf) in channel(s): Pz" in text
    assert rec.n_channels == 3 and np.isnan(rec.data[2, 15])


def test_flat_channel_in_file_warns_with_path(tmp_path):
    flat = edfio.EdfSignal(np.zeros(512), 256, label="O1", physical_dimension="uV")
    path = _write(tmp_path / "flat.edf", [_signal("Fp1", 256, 2), flat])
    with pytest.warns(EEGReadWarning, match=r"flat\.edf: flat channel\(s\) \(constant value\): O1"):
        rec = read_recording(path)
    assert rec.n_channels == 2


def _both_ways(source, start, stop):
    """``source.read(start, stop)`` decoded directly and by mne."""
    direct = source.read(start, stop)
    records, source._records = source._records, None
    try:
        return direct, source.read(start, stop)
    finally:
        source._records = records


def test_direct_record_decoding_equals_mne_on_generated_files(tmp_path):
    """EDF data records decoded with numpy (io.edf_records) give mne's values bit for bit: µV
    and mV signals, a signal read out of file order, pieces that start and stop inside a data
    record; layouts it does not take (mixed rates, BDF) are read by mne."""
    from eegssm.io import open_recording

    signals = [_signal("Fp1", 256, 7), _signal("Cz", 256, 7, amp=0.04, dim="mV"),
               _signal("T3", 256, 7, amp=900.0, freq=0.3)]  # fmt: skip
    path = _write(tmp_path / "ok.edf", signals)
    source = open_recording(path, channels=["T3", "Fp1", "Cz"])
    assert source._records is not None and source.ch_names == ["T3", "Fp1", "Cz"]
    n = source.n_times
    for start, stop in [(0, n), (0, 1), (255, 257), (300, 1500), (n - 1, n)]:
        direct, by_mne = _both_ways(source, start, stop)
        assert direct.dtype == np.float32 and np.array_equal(direct, by_mne)
    assert source.read(7, 7).shape == (3, 0)
    mixed = _write(tmp_path / "mixed.edf", [_signal("Fp1", 256, 4), _signal("T3", 128, 4)])
    with pytest.warns(EEGReadWarning):
        assert open_recording(mixed)._records is None


@pytest.mark.parametrize(
    "name", ["eegmat/Subject00_1.edf", "eegmat/Subject05_2.edf", "eegmmidb_S001/S001R03.edf"]
)
def test_direct_record_decoding_equals_mne_on_real_files(shared_data, name):
    from eegssm.io import open_recording

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EEGReadWarning)
        source = open_recording(shared_data / name, drop_non_eeg=False)  # ECG in mV too
    assert source._records is not None
    for start, stop in [(0, source.n_times), (1000, 1000 + 12_345)]:
        direct, by_mne = _both_ways(source, start, stop)
        assert np.array_equal(direct, by_mne)


@pytest.mark.parametrize("n_times", [0, 1, 5, 1000])
def test_value_ranges_equal_the_masked_reference(n_times):
    """The fast per-channel ranges (plain min/max, masking only channels with NaN/inf) equal
    the direct masked computation, NaN and ±inf anywhere included."""
    from eegssm.io.read import _value_ranges

    rng = np.random.default_rng(n_times)
    data = rng.standard_normal((6, n_times)).astype(np.float32)
    if n_times:
        data[1, 0], data[2, -1], data[3, :], data[4, 0] = np.nan, np.inf, np.nan, -np.inf
    finite = np.isfinite(data)
    expected = (
        finite.all(axis=1),
        np.where(finite, data, np.inf).min(axis=1, initial=np.inf),
        np.where(finite, data, -np.inf).max(axis=1, initial=-np.inf),
    )
    for got, want in zip(_value_ranges(data), expected):
        np.testing.assert_array_equal(got, want)


def _opened_both_ways(path, monkeypatch, **kwargs):
    """``open_recording(path)`` as it opens files (without mne where it can), and through mne."""
    from eegssm.io import read as read_module

    direct = read_module.open_recording(path, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(read_module, "_open_direct", lambda *a: None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            via_mne = read_module.open_recording(path, **kwargs)
    return direct, via_mne


def _assert_same_source(direct, via_mne):
    assert direct.ch_names == via_mne.ch_names
    assert direct.sfreq == via_mne.sfreq and direct.n_times == via_mne.n_times
    assert direct.meta == via_mne.meta
    assert [(e.start, e.stop, e.label) for e in direct.events] == [
        (e.start, e.stop, e.label) for e in via_mne.events
    ]
    n = direct.n_times
    for a, b in ((0, min(n, 2560)), (n // 2, min(n, n // 2 + 999)), (max(0, n - 300), n)):
        np.testing.assert_array_equal(direct.read(a, b), via_mne.read(a, b))


def _edf_files(shared_data):
    return sorted(shared_data.rglob("*.edf"))


def test_open_without_mne_equals_mne_on_real_files(shared_data, monkeypatch):
    """Every real EDF at hand: what the direct reader (header, records, EDF+ annotations
    without mne) gives equals what mne gives: channels, rate, length, metadata, annotations,
    samples. The files it leaves to mne are opened by mne either way."""
    files = _edf_files(shared_data)
    assert len(files) > 10
    direct_count = 0
    for path in files:
        direct, via_mne = _opened_both_ways(path, monkeypatch)
        direct_count += direct._raw is None
        _assert_same_source(direct, via_mne)
        if path.parent.name == "eegmat":  # the common layout, annotations inside: no mne
            assert direct._raw is None, path
    assert direct_count >= 36, direct_count


def test_open_without_mne_equals_mne_on_generated_edf_plus(tmp_path, monkeypatch):
    """Annotations with durations, several texts at one onset, non-ASCII text, a channel
    rename, a subject id: the same through both readers. Annotations past the end go to mne
    (which clips them, with its warning)."""
    path = _write(
        tmp_path / "a.edf",
        [_signal("Fp1", 256, 30), _signal("C3", 256, 30), _signal("ECG", 256, 30)],
        annotations=[(1.5, 2.25, "seiz"), (1.5, 2.25, "seiz"), (4.0, None, "Augen öffnen"),
                     (0.0, 0.5, "start"), (10.0, 1.0, "T1")],
    )  # fmt: skip
    direct, via_mne = _opened_both_ways(path, monkeypatch, channel_map={"C3": "C3-ref"})
    assert direct._raw is None
    _assert_same_source(direct, via_mne)
    assert [e.label for e in direct.events] == ["start", "seiz", "seiz", "Augen öffnen", "T1"]
    assert direct.meta["subject"] == "sub-07" and direct.ch_names == ["Fp1", "C3-ref"]

    late = _write(tmp_path / "late.edf", [_signal("Fp1", 256, 10)], [(9.5, 2.0, "late")])
    direct, _ = _opened_both_ways(late, monkeypatch)
    assert direct._raw is not None  # opened by mne: it clips the annotation


def test_open_without_mne_never_imports_mne(tmp_path):
    import subprocess
    import sys

    path = _write(tmp_path / "b.edf", [_signal("Fp1", 256, 10), _signal("Cz", 256, 10)],
                  [(1.0, 1.0, "x")])  # fmt: skip
    code = (
        "import sys\n"
        "from eegssm.io import open_recording\n"
        f"rec = open_recording({str(path)!r}).load()\n"
        "assert rec.data.shape == (2, 2560) and [e.label for e in rec.events] == ['x']\n"
        "assert 'mne' not in sys.modules, 'mne was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_annotations_read_in_pieces_equal_read_whole(tmp_path, monkeypatch):
    """The annotation signals are collected a few records at a time (bounded memory on a long
    file): the same bytes whatever the piece size, so the same annotations."""
    from eegssm.io import edf_tal

    path = _write(
        tmp_path / "p.edf",
        [_signal("Fp1", 256, 25), _signal("Cz", 256, 25)],
        annotations=[(float(t), 0.5, f"a{t}") for t in range(0, 24, 3)],
    )
    header = read_edf_header(path)
    whole = edf_tal.annotation_bytes(path, header)
    monkeypatch.setattr(edf_tal, "RECORDS_PER_READ", 3)
    assert edf_tal.annotation_bytes(path, header) == whole
    texts = [t for _, _, t in edf_tal.read_annotations(path, header, ["Fp1", "Cz"])]
    assert texts == [f"a{t}" for t in range(0, 24, 3)]
