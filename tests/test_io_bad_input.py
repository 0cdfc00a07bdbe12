"""Damaged EDF files: each gives an EEGReadError (or warning) naming the file and the problem."""

from __future__ import annotations

import edfio
import numpy as np
import pytest

from eegssm.io import EEGReadError, EEGReadWarning, read_recording
from eegssm.io.edf_header import read_edf_header

NS = 2  # signals in the generated file
SIGNAL_FIELD_WIDTHS = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32]


def _valid_edf(path, seconds=4, sfreq=128):
    t = np.arange(seconds * sfreq) / sfreq
    signals = [
        edfio.EdfSignal(np.sin(2 * np.pi * f * t) * 40, sfreq, label=lbl, physical_dimension="uV")
        for f, lbl in ((3.0, "Fp1"), (7.0, "Cz"))
    ]
    edfio.Edf(signals).write(path)
    return path


def _patch(path, offset, text):
    data = bytearray(path.read_bytes())
    data[offset : offset + len(text)] = text.encode("ascii")
    path.write_bytes(bytes(data))


def _signal_field_offset(field_index, signal):
    before = sum(w * NS for w in SIGNAL_FIELD_WIDTHS[:field_index])
    return 256 + before + SIGNAL_FIELD_WIDTHS[field_index] * signal


@pytest.fixture
def edf(tmp_path):
    return _valid_edf(tmp_path / "rec.edf")


def _expect_error(path, match):
    with pytest.raises(EEGReadError, match=match) as info:
        read_recording(path)
    assert str(path) in str(info.value)
    assert info.value.path == str(path)
    return info.value


def test_valid_file_reads(edf):
    assert read_recording(edf).data.shape == (2, 512)


def test_zero_length(tmp_path):
    path = tmp_path / "empty.edf"
    path.write_bytes(b"")
    _expect_error(path, r"empty \(0 bytes\)")


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nope.edf", "no such file")


def test_truncated_general_header(edf):
    edf.write_bytes(edf.read_bytes()[:100])
    _expect_error(edf, "truncated header: 100 bytes")


def test_truncated_signal_header(edf):
    edf.write_bytes(edf.read_bytes()[:600])
    _expect_error(edf, "truncated header: 600 bytes, the header of 2 signals needs 768")


def test_not_an_edf(edf):
    edf.write_bytes(b"<html>" + b" " * 1000)
    _expect_error(edf, "not an EDF or BDF file")


@pytest.mark.parametrize(
    "offset, text, field",
    [
        (236, "abc     ", "number of data records"),
        (244, "one sec ", "duration of a data record"),
        (252, "?   ", "number of signals"),
        (184, "x12     ", "number of bytes in header"),
    ],
)
def test_non_numeric_general_fields(edf, offset, text, field):
    _patch(edf, offset, text)
    err = _expect_error(edf, f"header field '{field}' is not a number")
    assert text.strip() in str(err)


def test_non_numeric_signal_field(edf):
    _patch(edf, _signal_field_offset(3, 1), "xx      ")  # physical minimum of the 2nd signal
    _expect_error(edf, "header field 'physical min' of signal 'Cz' is not a number: 'xx'")


def test_inconsistent_header_size(edf):
    _patch(edf, 184, "1024    ")
    _expect_error(edf, "header size field says 1024 bytes but 2 signals need 768")


def test_zero_signals(edf):
    _patch(edf, 252, "0   ")
    _expect_error(edf, "declares 0 signals")


def test_zero_record_duration(edf):
    _patch(edf, 244, "0       ")
    _expect_error(edf, "duration of a data record must be > 0")


def test_truncated_data_warns_and_reads_complete_records(edf):
    header = read_edf_header(edf)
    record_bytes = sum(header.samples_per_record) * 2
    edf.write_bytes(edf.read_bytes()[: -record_bytes - 10])
    with pytest.warns(EEGReadWarning, match="truncated file") as caught:
        rec = read_recording(edf)
    assert str(edf) in str(caught[0].message)
    assert rec.duration == pytest.approx(header.duration - 2 * header.record_duration)


def test_no_complete_record(edf):
    edf.write_bytes(edf.read_bytes()[: 768 + 10])
    _expect_error(edf, "holds none complete")


def test_empty_digital_range_warns(edf):
    _patch(edf, _signal_field_offset(5, 0), "0       ")  # digital min of Fp1
    _patch(edf, _signal_field_offset(6, 0), "0       ")  # digital max of Fp1
    with pytest.warns(EEGReadWarning, match="'Fp1' has an empty physical or digital range"):
        read_edf_header(edf)


def test_only_non_eeg_channels(tmp_path):
    sig = edfio.EdfSignal(np.zeros(256), 256, label="ECG", physical_dimension="uV")
    path = tmp_path / "ecg.edf"
    edfio.Edf([sig]).write(path)
    err = _expect_error(path, "no EEG channel left")
    assert "drop_non_eeg=False" in str(err)


def test_invalid_start_date_warns(edf):
    _patch(edf, 168, "99.99.99")
    with pytest.warns(EEGReadWarning, match="invalid start date"):
        rec = read_recording(edf)
    assert rec.meta["start_time"] is None
