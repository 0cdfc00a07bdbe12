"""CHB-MIT summaries, Siena seizure lists, BIDS/SzCORE events.tsv, EDF+ annotations, labels."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import pytest

from eegssm.io import TERM, EEGReadError, EEGReadWarning, Event, Recording, read_recording
from eegssm.io.annotations import (
    SEIZURE_LABELS,
    is_seizure,
    read_bids_events,
    read_chbmit_summary,
    read_edf_annotations,
    read_siena_seizures,
    write_bids_events,
    write_edf,
)

# --- CHB-MIT -----------------------------------------------------------------------------------


def test_chb01_summary(shared_data):
    s = read_chbmit_summary(shared_data / "chbmit_clips" / "chb01" / "chb01-summary.txt")
    assert s.sfreq == 256.0
    assert len(s.channels) == 23 and s.channels[:2] == ["FP1-F7", "F7-T7"]
    assert s.events_for("chb01_03.edf") == [Event(2996.0, 3036.0, "seiz", TERM, 1.0)]
    assert s.events_for("/any/dir/chb01_04.edf") == [Event(1467.0, 1494.0)]
    assert s.events_for("chb01_01.edf") == []
    f = s.files["chb01_03.edf"]
    assert (f.start_time, f.end_time, f.duration, f.n_seizures) == ("13:43:04", "14:43:04", 3600, 1)
    n_seiz = sum(len(f.events) for f in s.files.values())
    assert n_seiz == 7  # the 7 seizures of the ictal clips
    with pytest.raises(KeyError):
        s.events_for("chb02_01.edf")


def test_chb05_unnumbered_and_midnight(shared_data):
    s = read_chbmit_summary(shared_data / "annotation_formats/chbmit/chb05/chb05-summary.txt")
    assert s.events_for("chb05_06.edf") == [Event(417.0, 532.0)]
    assert s.files["chb05_07.edf"].end_time == "24:21:32"
    assert s.files["chb05_07.edf"].duration == 3600.0
    assert s.files["chb05_08.edf"].duration == 3600.0  # "00:21:39" → "1:21:39"


def test_chb08_numbered_seizures(shared_data):
    s = read_chbmit_summary(shared_data / "annotation_formats/chbmit/chb08/chb08-summary.txt")
    assert s.events_for("chb08_02.edf") == [Event(2670.0, 2841.0)]
    assert s.events_for("chb08_05.edf") == [Event(2856.0, 3046.0)]


CHB_SYNTH = """Data Sampling Rate: 256 Hz
Channels in EDF Files:
Channel 1: FP1-F7
Channel 2: F7-T7

File Name: x_01.edf
File Start Time: 23:30:00
File End Time: 0:30:00
Number of Seizures in File: 2
Seizure 1 Start Time: 100 seconds
Seizure 1 End Time: 150 seconds
Seizure 2 Start Time:  3000 seconds
Seizure 2 End Time: 3700 seconds

Channels changed:
Channel 1: FP1-F3
Channel 2: -

File Name: x_02.edf
File Start Time: 01:00:00
File End Time: 02:00:00
Number of Seizures in File: 1
"""


def test_chbmit_channel_change_and_checks(tmp_path):
    path = tmp_path / "x-summary.txt"
    path.write_text(CHB_SYNTH)
    with pytest.warns(EEGReadWarning) as caught:
        s = read_chbmit_summary(path)
    text = " | ".join(str(w.message) for w in caught)
    assert "x_01.edf: seizure 3000-3700 s ends after the file (3600 s)" in text
    assert "x_02.edf: says 1 seizures but lists 0" in text
    assert str(path) in text
    assert s.files["x_01.edf"].channels == ["FP1-F7", "F7-T7"]
    assert s.files["x_02.edf"].channels == ["FP1-F3", "-"]
    assert s.channels == ["FP1-F7", "F7-T7"]
    assert [e.start for e in s.events_for("x_01.edf")] == [100.0, 3000.0]


def test_chbmit_reversed_seizure_is_error(tmp_path):
    path = tmp_path / "bad-summary.txt"
    path.write_text(CHB_SYNTH.replace("Seizure 1 End Time: 150", "Seizure 1 End Time: 50"))
    with pytest.raises(EEGReadError, match=r"line 11: x_01\.edf: seizure ends \(50.0 s\) before"):
        read_chbmit_summary(path)


# --- Siena -------------------------------------------------------------------------------------


def test_siena_pn00(shared_data):
    path = shared_data / "annotation_formats/siena/PN00/Seizures-list-PN00.txt"
    with pytest.warns(EEGReadWarning, match=r"PN00-3\.edf: seizure 765-4425 s ends after"):
        s = read_siena_seizures(path)
    assert s.patient == "PN00" and s.sfreq == 512.0
    assert s.channels[0] == "Fp1" and s.channels[-1] == "EKG 2"
    # 19.39.33 → 19.58.36 = 1143 s; 19.59.46 = 1213 s
    assert s.events_for("PN00-1.edf") == [Event(1143.0, 1213.0)]
    assert s.events_for("PN00-2.edf") == [Event(1220.0, 1274.0)]  # 02.18.17 → 02.38.37
    assert s.files["PN00-1.edf"].duration == 2605.0  # 19.39.33 → 20.22.58
    assert len(s.files) == 5


def test_siena_pn16_hours_apart(shared_data):
    s = read_siena_seizures(shared_data / "annotation_formats/siena/PN16/Seizures-list-PN16.txt")
    assert s.events_for("PN16-1.edf") == [Event(7184.0, 7307.0)]  # 20.45.21 → 22.45.05
    assert s.events_for("PN16-2.edf") == [Event(8574.0, 8681.0)]  # 00.53.55 → 03.16.49
    assert "Cz" in s.channels


SIENA_SYNTH = """PN99
Data Sampling Rate: 512 Hz
Channels in EDF files:
Channel 1: Fp1
Seizure n 1
File name: PN99-1.edf
Registration start time: 23.50.00
Registration end time: 01.10:00
Start time: 00:05:10
End time: 00.06.00
Start time: 00.30.00
End time: 00.31.30

Seizure n 2
File name: PN99-2.edf
Registration start time:1 6.49.25
Registration end time: 17.49.25
Seizure start time: 16.59.59
Seizure end time: 17.00.09

Seizure n 3
File name: PN99-2.edf
Seizure start time: 17.10.00
Seizure end time: 17.10.30
"""


def test_siena_variants_midnight_and_separators(tmp_path):
    path = tmp_path / "Seizures-list-PN99.txt"
    path.write_text(SIENA_SYNTH)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = read_siena_seizures(path)
    assert s.patient == "PN99"
    assert s.events_for("PN99-1.edf") == [Event(910.0, 960.0), Event(2400.0, 2490.0)]
    assert s.files["PN99-1.edf"].duration == 4800.0
    assert s.events_for("PN99-2.edf") == [Event(634.0, 644.0), Event(1235.0, 1265.0)]


def test_siena_bad_clock(tmp_path):
    path = tmp_path / "Seizures-list-PN98.txt"
    path.write_text(SIENA_SYNTH.replace("16.59.59", "16h59"))
    with pytest.raises(EEGReadError, match="line 18: cannot read clock time '16h59'"):
        read_siena_seizures(path)


# --- BIDS / SzCORE -----------------------------------------------------------------------------

SZCORE_TSV = (
    "onset\tduration\teventType\tconfidence\tchannels\tdateTime\trecordingDuration\n"
    "296.00\t40.00\tsz_foc_ia\tn/a\tT3,T5\t2016-01-01 19:39:33\t2605.00\n"
    "1143.00\t70.00\tsz\t0.80\tn/a\t2016-01-01 19:39:33\t2605.00\n"
)


def test_read_szcore_tsv(tmp_path):
    path = tmp_path / "sub-00_ses-01_task-szMonitoring_run-00_events.tsv"
    path.write_text(SZCORE_TSV)
    b = read_bids_events(path)
    assert b.events == [
        Event(296.0, 336.0, "cpsz", "T3,T5", 1.0),
        Event(1143.0, 1213.0, "seiz", TERM, 0.8),
    ]
    assert b.recording_duration == 2605.0
    assert b.date_time == dt.datetime(2016, 1, 1, 19, 39, 33)
    assert all(is_seizure(e.label) for e in b.events)


def test_bids_round_trip_and_background_row(tmp_path):
    events = [Event(10.25, 20.5, "fnsz"), Event(30.0, 31.0, "seiz", "FP1-F7", 0.5)]
    path = write_bids_events(tmp_path / "a_events.tsv", events, 600.0, "2020-02-03T10:11:12")
    lines = path.read_text().splitlines()
    header = "onset\tduration\teventType\tconfidence\tchannels\tdateTime\trecordingDuration"
    assert lines[0] == header + "\ttrial_type"  # SzCORE columns, then BIDS's trial_type
    assert lines[1] == "10.25\t10.25\tsz_foc\t1.00\tn/a\t2020-02-03 10:11:12\t600.00\tsz_foc"
    back = read_bids_events(path)
    assert back.events == events and back.recording_duration == 600.0
    empty = write_bids_events(tmp_path / "b_events.tsv", [], 300.0)
    assert empty.read_text().splitlines()[1] == "0.00\t300.00\tbckg\t1.00\tn/a\tn/a\t300.00\tbckg"
    assert read_bids_events(empty).events == [Event(0.0, 300.0, "bckg")]


def test_bids_bad_input(tmp_path):
    path = tmp_path / "bad_events.tsv"
    path.write_text("onset,duration,eventType\n1,2,sz\n")
    with pytest.raises(EEGReadError, match="missing column"):
        read_bids_events(path)
    path.write_text(SZCORE_TSV.replace("\t40.00\t", "\t-4.00\t"))
    with pytest.raises(EEGReadError, match="line 2: negative duration"):
        read_bids_events(path)
    path.write_text(SZCORE_TSV.replace("1143.00", "2600.00"))
    with pytest.warns(EEGReadWarning, match="ends after the recording"):
        read_bids_events(path)


# --- EDF+ --------------------------------------------------------------------------------------


def test_write_edf_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    data = (rng.normal(scale=30, size=(3, 1000))).astype(np.float32)
    data[2] = 5.0  # flat channel
    rec = Recording(
        data=data,
        sfreq=250.0,
        ch_names=["Fp1", "Cz", "O2"],
        events=[Event(1.0, 2.5, "seiz"), Event(3.0, 3.5, "fnsz", "FP1-F7")],
        meta={"start_time": "2019-07-08T09:10:11", "subject": "s01"},
    )
    path = write_edf(tmp_path / "out.edf", rec)
    assert read_edf_annotations(path) == [Event(1.0, 2.5, "seiz"), Event(3.0, 3.5, "fnsz@FP1-F7")]
    with pytest.warns(EEGReadWarning, match="flat channel"):
        back = read_recording(path)
    assert back.ch_names == rec.ch_names and back.sfreq == 250.0 and back.n_times == 1000
    step = (data[:2].max(axis=1) - data[:2].min(axis=1)) / 65535
    assert np.all(np.abs(back.data[:2] - data[:2]) <= step[:, None])
    np.testing.assert_allclose(back.data[2], 5.0, atol=1e-3)
    assert back.meta["start_time"] == "2019-07-08T09:10:11" and back.meta["subject"] == "s01"


def test_read_edf_annotations_real(shared_data):
    events = read_edf_annotations(shared_data / "eegmmidb_S001" / "S001R04.edf")
    assert {e.label for e in events} == {"T0", "T1", "T2"}  # case kept
    assert events[0].start == 0.0 and events[0].duration == pytest.approx(4.2)


# --- labels ------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(SEIZURE_LABELS) + ["SEIZ", "sz", "sz_foc_ia"])
def test_seizure_labels(label):
    assert is_seizure(label)


@pytest.mark.parametrize("label", ["bckg", "artf", "t0", "eyes closed", "", "size"])
def test_background_labels(label):
    assert not is_seizure(label)


def test_configured_labels():
    assert is_seizure("spike", seizure_labels={"Spike"})
    assert not is_seizure("seiz", seizure_labels={"spike"})
