"""TUSZ multi-class per-channel csv files."""

from __future__ import annotations

import pytest

from eegssm.io import TERM, EEGReadError, Event
from eegssm.io.annotations import read_tusz_csv, write_tusz_csv

TEXT = """# version = csv_v1.0.0
# bname = aaaaaajy_s001_t000
# duration = 100.0000 secs
# montage_file = $NEDC_NFC/lib/nedc_eas_default_montage.txt
#
channel,start_time,stop_time,label,confidence
FP1-F7,0.0000,20.0000,bckg,1.0000
FP1-F7,20.0000,45.5000,fnsz,1.0000
FP1-F7,45.5000,100.0000,bckg,1.0000
F7-T3,0.0000,30.0000,bckg,1.0000
F7-T3,30.0000,50.0000,fnsz,1.0000
F7-T3,50.0000,100.0000,bckg,1.0000
T3-T5,70.0000,80.0000,gnsz,1.0000
"""


def test_read_per_channel(tmp_path):
    path = tmp_path / "aaaaaajy_s001_t000.csv"
    path.write_text(TEXT)
    f = read_tusz_csv(path)
    assert f.channels == ["FP1-F7", "F7-T3", "T3-T5"]
    assert f.montage_file == "$NEDC_NFC/lib/nedc_eas_default_montage.txt"
    assert f.events[1] == Event(20.0, 45.5, "fnsz", "FP1-F7", 1.0)
    assert f.term_seizures() == [Event(20.0, 50.0, "seiz", TERM), Event(70.0, 80.0, "seiz", TERM)]


def test_round_trip_bytes(tmp_path):
    src = tmp_path / "aaaaaajy_s001_t000.csv"
    src.write_text(TEXT)
    f = read_tusz_csv(src)
    out = write_tusz_csv(tmp_path / "out.csv", f.events, f.duration, f.bname, f.montage_file)
    assert out.read_bytes() == src.read_bytes()


def test_reversed_row_is_an_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(TEXT + "O1-O2,50.0000,40.0000,fnsz,1.0000\n")
    with pytest.raises(EEGReadError, match="line 14: stop_time 40.0 is before start_time 50.0"):
        read_tusz_csv(path)
