"""TUSZ csv_bi reading and writing, including byte-for-byte round trips of the reference files."""

from __future__ import annotations

import json
import warnings

import pytest

from eegssm.io import TERM, EEGReadError, EEGReadWarning, Event
from eegssm.io.annotations import (
    CsvBiFile,
    fill_background,
    is_seizure,
    read_csv_bi,
    write_csv_bi,
)

EXAMPLE = """# version = csv_v1.0.0
# bname = case_x
# duration = 600.0000 secs
# montage_file = nedc_eas_default_montage.txt
#
channel,start_time,stop_time,label,confidence
TERM,120.5000,185.2500,seiz,1.0000
TERM,400.0000,460.0000,SEIZ,0.7500
"""


def test_read_example(tmp_path):
    path = tmp_path / "case_x.csv_bi"
    path.write_text(EXAMPLE)
    f = read_csv_bi(path)
    assert isinstance(f, CsvBiFile)
    assert f.duration == 600.0
    assert f.bname == "case_x"
    assert f.version == "csv_v1.0.0"
    assert f.montage_file == "nedc_eas_default_montage.txt"
    assert f.events == [
        Event(120.5, 185.25, "seiz", TERM, 1.0),
        Event(400.0, 460.0, "seiz", TERM, 0.75),
    ]
    assert len(f.seizures) == 2


def test_write_matches_layout(tmp_path):
    path = tmp_path / "case_x.csv_bi"
    events = [Event(120.5, 185.25), Event(400.0, 460.0, "seiz", TERM, 0.75)]
    write_csv_bi(path, events, 600.0)
    assert path.read_bytes() == EXAMPLE.replace("SEIZ", "seiz").encode()


def test_write_empty_has_header_only(tmp_path):
    path = write_csv_bi(tmp_path / "a.csv_bi", [], 12.5, bname="other")
    text = path.read_text()
    assert text.endswith("channel,start_time,stop_time,label,confidence\n")
    assert "# bname = other\n" in text and "# duration = 12.5000 secs\n" in text
    assert read_csv_bi(path).events == []


def test_round_trip_reference_files_byte_for_byte(scoring_cases, tmp_path):
    folder = scoring_cases
    files = sorted((folder / "ref").glob("*.csv_bi")) + sorted((folder / "hyp").glob("*.csv_bi"))
    assert len(files) == 80
    cases = json.loads((folder / "cases.json").read_text())
    for src in files:
        f = read_csv_bi(src)
        out = write_csv_bi(tmp_path / src.name, f.events, f.duration, f.bname, f.montage_file)
        assert out.read_bytes() == src.read_bytes(), src.name
        # the seizure intervals agree with the case list
        case = cases[src.stem]
        key = "ref_seiz" if src.parent.name == "ref" else "hyp_seiz"
        seiz = [x for e in f.events if is_seizure(e.label) for x in (e.start, e.stop)]
        expected = [x for pair in case[key] for x in pair]
        assert seiz == pytest.approx(expected, abs=1e-4), src.name
        assert f.duration == pytest.approx(case["duration_s"])


def test_hypothesis_files_cover_the_recording(scoring_cases):
    f = read_csv_bi(scoring_cases / "hyp" / "case_003.csv_bi")
    assert f.events[0].start == 0.0 and f.events[-1].stop == f.duration
    assert fill_background(f.seizures, f.duration) == f.events


def test_fill_background_empty_and_touching():
    assert fill_background([], 10.0) == [Event(0.0, 10.0, "bckg")]
    ev = fill_background([Event(5, 10), Event(0, 5)], 10.0)
    assert ev == [Event(0, 5), Event(5, 10)]


@pytest.mark.parametrize(
    "row, match",
    [
        ("TERM,20.0000,10.0000,seiz,1.0000", "before start_time"),
        ("TERM,abc,10.0000,seiz,1.0000", "must be numbers"),
        ("TERM,1.0000,10.0000,seiz", "5 comma-separated"),
        ("TERM,1.0000,10.0000,seiz,1.5000", "outside"),
        ("TERM,-1.0000,10.0000,seiz,1.0000", "negative"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, row, match):
    path = tmp_path / "bad.csv_bi"
    path.write_text(EXAMPLE + row + "\n")
    with pytest.raises(EEGReadError, match=match) as info:
        read_csv_bi(path)
    assert str(path) in str(info.value) and "line 9" in str(info.value)


def test_event_beyond_duration_warns(tmp_path):
    path = tmp_path / "late.csv_bi"
    path.write_text(EXAMPLE + "TERM,590.0000,700.0000,seiz,1.0000\n")
    with pytest.warns(EEGReadWarning, match="ends after the recording duration") as rec:
        f = read_csv_bi(path)
    assert str(path) in str(rec[0].message)
    assert f.events[-1].stop == 700.0


def test_bad_files(tmp_path):
    empty = tmp_path / "empty.csv_bi"
    empty.write_text("")
    with pytest.raises(EEGReadError, match="empty"):
        read_csv_bi(empty)
    no_dur = tmp_path / "nodur.csv_bi"
    no_dur.write_text(EXAMPLE.replace("# duration = 600.0000 secs\n", ""))
    with pytest.raises(EEGReadError, match="duration"):
        read_csv_bi(no_dur)
    bad_header = tmp_path / "hdr.csv_bi"
    bad_header.write_text(EXAMPLE.replace("stop_time", "end"))
    with pytest.raises(EEGReadError, match="header"):
        read_csv_bi(bad_header)
    with pytest.raises(EEGReadError, match="cannot open"):
        read_csv_bi(tmp_path / "missing.csv_bi")


def test_write_rejects_reversed_event(tmp_path):
    with pytest.raises(ValueError, match="before its start"):
        write_csv_bi(tmp_path / "x.csv_bi", [Event(5.0, 4.0)], 10.0)


def test_no_warning_on_clean_file(tmp_path):
    path = tmp_path / "ok.csv_bi"
    path.write_text(EXAMPLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_csv_bi(path)


def test_vendored_scoring_cases_equal_the_shared_copy(shared_data, scoring_cases):
    """``tests/data/scoring_cases`` is a byte-identical copy of the generated cases (bar README)."""
    source = shared_data / "scoring_cases"
    names = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    names = [n for n in names if n.name != "README.md"]
    assert len(names) == 85
    for name in names:
        assert (scoring_cases / name).read_bytes() == (source / name).read_bytes(), name
