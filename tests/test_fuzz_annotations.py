"""Fuzzing the annotation readers: csv_bi, TUSZ csv, BIDS events.tsv, CHB-MIT summary, Siena list.

Mutations of a valid file of each format (numbers swapped for ``nan``/``inf``/huge/odd tokens,
random text inserted, lines deleted, duplicated or shuffled, truncation, random bytes) must parse
or raise a ``ValueError`` (``EEGReadError`` is one) naming the file; parsed events must have
finite times with ``0 <= start <= stop``. ``N_DEFAULT`` files per format by default, ``N_SLOW``
with ``-m slow``.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eegssm.io.annotations import (
    read_bids_events,
    read_chbmit_summary,
    read_csv_bi,
    read_siena_seizures,
    read_tusz_csv,
)

N_DEFAULT, N_SLOW = 1000, 25_000

CSV_BI = """# version = csv_v1.0.0
# bname = aaaaaaac_s001_t000
# duration = 301.0000 secs
# montage_file = nedc_eas_default_montage.txt
#
channel,start_time,stop_time,label,confidence
TERM,36.8868,183.3055,seiz,1.0000
TERM,200.0000,250.0000,bckg,0.5000
"""
TUSZ_CSV = (
    CSV_BI.replace("TERM,36", "FP1-F7,36").replace("TERM,200", "F7-T3,200").replace("seiz", "fnsz")
)
BIDS = (
    "onset\tduration\teventType\tconfidence\tchannels\tdateTime\trecordingDuration\n"
    "10.00\t20.00\tsz_foc_ia\t1.00\tn/a\t2020-01-01 10:00:00\t300.00\n"
    "100.5\t5.0\tbckg\tn/a\tFp1,F3\t2020-01-01 10:00:00\t300.00\n"
)
CHBMIT = """Data Sampling Rate: 256 Hz
*************************

Channels in EDF Files:
**********************
Channel 1: FP1-F7
Channel 2: F7-T7

File Name: chb01_01.edf
File Start Time: 11:42:54
File End Time: 12:42:54
Number of Seizures in File: 0

File Name: chb01_03.edf
File Start Time: 23:43:04
File End Time: 24:43:04
Number of Seizures in File: 2
Seizure 1 Start Time: 2996 seconds
Seizure 1 End Time: 3036 seconds
Seizure Start Time: 3100 seconds
Seizure End Time: 3200 seconds

Channels changed:
Channel 1: FP1-F7
"""
SIENA = """Patient id number:PN00
Seizure n 1
File name: PN00-1.edf
Registration start time: 19.39.33
Registration end time:  20.22.58
Seizure start time: 19.58.36
Seizure end time: 19.59.46

Seizure n 2
File name: PN00-1.edf
Start time: 1 9.59.50
End time: 20:00:10

Data Sampling Rate: 512 Hz
Channel 1: Fp1
"""
FORMATS = {
    # name: (file name, valid text, reader, events of the parsed object)
    "csv_bi": ("rec.csv_bi", CSV_BI, read_csv_bi, lambda r: r.events),
    "tusz_csv": ("rec.csv", TUSZ_CSV, read_tusz_csv, lambda r: r.events),
    "bids": ("sub-01_events.tsv", BIDS, read_bids_events, lambda r: r.events),
    "chbmit": (
        "chb01-summary.txt", CHBMIT, read_chbmit_summary,
        lambda r: [e for f in r.files.values() for e in f.events],
    ),
    "siena": (
        "Seizures-list-PN00.txt", SIENA, read_siena_seizures,
        lambda r: [e for f in r.files.values() for e in f.events],
    ),
}  # fmt: skip
TOKENS = [
    "", "nan", "inf", "-inf", "-1", "1e400", "9" * 400, "1.2.3", ".", "..", ":", "24:61:99",
    "99.99.99", "\x00", "n/a", "\t", ",", "é", "\ufeff", "-0", "0", "1e-320", "seiz", "bckg",
    "1,5", "# duration = ", "secs", "File Name:", "Seizure 1 End Time: 5 seconds", "\r",
    "Registration start time:", "Seizure start time: 25.00.00", "2020-13-45 25:00:00",
]  # fmt: skip
DELIMS = ["\n", "\t", ",", ":", " ", "=", "."]


@st.composite
def mutated_text(draw, valid: str) -> bytes:
    """A mutated version of ``valid`` (as bytes, sometimes not UTF-8)."""
    if draw(st.integers(0, 19)) == 0:  # now and then something unrelated
        return draw(st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
    text = valid
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["token", "token", "insert", "lines", "truncate"]))
        if kind == "token":  # replace the text between two delimiters
            delim = draw(st.sampled_from(DELIMS))
            parts = text.split(delim)
            i = draw(st.integers(0, len(parts) - 1))
            parts[i] = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=12)))
            text = delim.join(parts)
        elif kind == "insert":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.text(min_size=1, max_size=20)) + text[i:]
        elif kind == "lines":
            lines = text.split("\n")
            op = draw(st.sampled_from(["delete", "duplicate", "shuffle"]))
            i = draw(st.integers(0, len(lines) - 1))
            if op == "delete":
                del lines[i]
            elif op == "duplicate":
                lines.insert(i, lines[i])
            else:
                lines = draw(st.permutations(lines))
            text = "\n".join(lines)
        else:
            text = text[: draw(st.integers(0, len(text)))]
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # a stray invalid UTF-8 byte
        i = draw(st.integers(0, len(data)))
        data = data[:i] + b"\xff" + data[i:]
    return data


def check_parse(path: Path, reader, events_of) -> None:
    """Parse ``path``: a result with sane events, or a ValueError naming the file.

    BIDS allows negative onsets (events before the first stored sample; windowing clips them),
    the other formats do not.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = reader(path)
        except ValueError as err:  # EEGReadError is a ValueError
            assert str(path) in str(err), f"{type(err).__name__} without the file name: {err}"
            return
    for ev in events_of(result):
        assert math.isfinite(ev.start) and math.isfinite(ev.stop), ev
        assert ev.start <= ev.stop and (ev.start >= 0 or reader is read_bids_events), ev
        assert math.isfinite(ev.confidence), ev


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_annotations")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_valid_samples_parse(folder, fmt):
    """Control: the unmutated samples parse to the expected events."""
    name, text, reader, events_of = FORMATS[fmt]
    path = folder / name
    path.write_text(text, encoding="utf-8")
    events = events_of(reader(path))
    assert len(events) == 2
    check_parse(path, reader, events_of)


SETTINGS = dict(
    deadline=2000, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _fuzz(folder: Path, fmt: str, data) -> None:
    name, text, reader, events_of = FORMATS[fmt]
    path = folder / name
    path.write_bytes(data.draw(mutated_text(text)))
    check_parse(path, reader, events_of)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=N_DEFAULT, **SETTINGS)
@given(data=st.data())
def test_fuzz_annotation_readers(folder, fmt, data):
    _fuzz(folder, fmt, data)


@pytest.mark.slow
@pytest.mark.timeout(7200)
@pytest.mark.parametrize("fmt", list(FORMATS))
@settings(max_examples=N_SLOW, **SETTINGS)
@given(data=st.data())
def test_fuzz_annotation_readers_large(folder, fmt, data):
    _fuzz(folder, fmt, data)


@pytest.mark.parametrize(
    "fmt, old, new, match",
    [
        ("bids", "onset", "\udcffonset", "not a UTF-8 text file"),  # was UnicodeDecodeError
        ("chbmit", "256 Hz", "", "sampling rate"),  # was IndexError
        ("chbmit", "256 Hz", "x Hz", "sampling rate"),  # was ValueError without the file
        ("chbmit", "in File: 2", "in File: two", "number of seizures"),
        ("chbmit", "2996 seconds", "29.9.6 seconds", "seizure time"),
        ("chbmit", "2996 seconds", "9" * 400 + " seconds", "seizure time"),  # was inf
        ("siena", "512 Hz", "# Hz", "sampling rate"),
    ],
)
def test_parser_errors_found_by_fuzzing(folder, fmt, old, new, match):
    """Regressions: each gave an exception without the file name (or an infinite time)."""
    name, text, reader, _ = FORMATS[fmt]
    path = folder / name
    assert old in text
    path.write_bytes(text.replace(old, new).encode("utf-8", "surrogateescape"))
    with pytest.raises(ValueError, match=match) as info:
        reader(path)
    assert str(path) in str(info.value)
