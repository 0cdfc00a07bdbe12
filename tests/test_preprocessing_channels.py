"""Channel-name normalisation: rules table, real eegmat/eegmmidb labels, duplicates, report."""

from __future__ import annotations

import pytest

from eegssm.io.types import Recording
from eegssm.preprocessing.channels import (
    normalize_channel_names,
    normalize_name,
    normalize_recording_channels,
)
from eegssm.preprocessing.montages import REFERENTIAL_19

CASES = [
    ("EEG Fp1", "Fp1"),  # eegmat
    ("EEG FP1-REF", "Fp1"),  # TUSZ 01_tcp_ar
    ("EEG T3-LE", "T3"),  # TUSZ 02_tcp_le
    ("EEG CZ-AR", "Cz"),
    ("FZ-AVG", "Fz"),
    ("fp2", "Fp2"),
    ("  EEG O2 ", "O2"),
    ("Fc5.", "FC5"),  # eegmmidb pads with dots
    ("Cz..", "Cz"),
    ("Fpz.", "Fpz"),
    ("Afz.", "AFz"),
    ("T10.", "T10"),
    ("T7..", "T3"),  # new -> old temporal names
    ("T8", "T4"),
    ("P7..", "T5"),
    ("EEG P8-REF", "T6"),
    ("FP1-F7", "Fp1-F7"),  # CHB-MIT bipolar
    ("T7-P7", "T3-T5"),
    ("T8-P8-0", "T4-T6"),  # mne's running number for a duplicate label
    ("FT9-FT10", "FT9-FT10"),
    ("EEG A2-A1", "A2-A1"),
    ("ECG ECG", "ECG ECG"),  # not EEG: unchanged
    ("EEG EKG1-REF", "EKG1"),
    ("SPO2", "SPO2"),
]


@pytest.mark.parametrize("raw,expected", CASES)
def test_normalize_name_table(raw, expected):
    assert normalize_name(raw) == expected


def test_aliases_can_be_turned_off():
    assert normalize_name("T7..", aliases=False) == "T7"
    assert normalize_name("EEG P8-REF", aliases=False) == "P8"
    assert normalize_name("T3", aliases=False) == "T3"


def test_duplicates_get_running_numbers_and_warn():
    with pytest.warns(UserWarning, match="already taken"):
        mapping = normalize_channel_names(["EEG T3-REF", "T7", "T3"])
    assert mapping.names == ["T3", "T3-1", "T3-2"]
    assert mapping.duplicates == ["T7", "T3"]
    assert len(set(mapping.names)) == 3


def test_report_maps_each_raw_name():
    mapping = normalize_channel_names(["EEG Fp1", "Fc5.", "ECG ECG", "Cz"])
    assert mapping.mapping == {"EEG Fp1": "Fp1", "Fc5.": "FC5", "ECG ECG": "ECG ECG", "Cz": "Cz"}
    assert mapping.renamed == {"EEG Fp1": "Fp1", "Fc5.": "FC5"}
    assert mapping.unrecognised == ["ECG ECG"]
    table = mapping.table()
    assert "Fc5.    -> FC5" in table
    assert "ECG ECG -> ECG ECG  ?" in table


def test_normalize_recording_channels_keeps_data_and_records_map():
    import numpy as np

    rec = Recording(np.zeros((2, 10), np.float32), 100.0, ["EEG FP1-REF", "EEG T4-REF"])
    out = normalize_recording_channels(rec)
    assert out.ch_names == ["Fp1", "T4"]
    assert out.data is rec.data
    assert out.meta["channel_map"] == {"EEG FP1-REF": "Fp1", "EEG T4-REF": "T4"}
    assert rec.ch_names == ["EEG FP1-REF", "EEG T4-REF"]


def _edf_labels(path):
    import mne

    return mne.io.read_raw_edf(path, preload=False, verbose="error").ch_names


def test_real_eegmat_labels(shared_data):
    mapping = normalize_channel_names(_edf_labels(shared_data / "eegmat" / "Subject00_1.edf"))
    assert set(REFERENTIAL_19) <= set(mapping.names)
    assert mapping.mapping["EEG A2-A1"] == "A2-A1"
    assert mapping.unrecognised == ["ECG ECG"]


def test_real_eegmmidb_labels(shared_data):
    raw = _edf_labels(shared_data / "eegmmidb_S001" / "S001R01.edf")
    mapping = normalize_channel_names(raw)
    assert len(raw) == 64
    assert mapping.unrecognised == []
    assert set(REFERENTIAL_19) <= set(mapping.names)
    assert mapping.mapping["Fc5."] == "FC5"
    assert mapping.mapping["T7.."] == "T3"
    assert mapping.mapping["P8.."] == "T6"
    assert mapping.mapping["Iz.."] == "Iz"


def test_standard_names_are_those_of_the_installed_mne_layout():
    """Names are normalised from a constant (no mne import); it must be mne's layout's list,
    which positions (interpolation, synthetic data) are still read from."""
    from eegssm.preprocessing.channels import STANDARD_NAMES, standard_positions

    assert len(STANDARD_NAMES) == len(set(STANDARD_NAMES)) == 94
    assert set(STANDARD_NAMES) == set(standard_positions())


def test_reading_settings_imports_neither_mne_nor_scipy_signal():
    """A checkpoint's settings (preprocessing config, input contract, channel names) are read
    without mne or scipy.signal: `eegssm detect` forks its reading child after them, and the
    parent, which loads the model, never needs either."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from eegssm.detection import Detector\n"
        "d = Detector.from_checkpoint(None, background=True, defer_load=True)\n"
        "d.set_input_montage('auto')\n"
        "from eegssm.preprocessing.channels import normalize_name\n"
        "assert normalize_name('EEG FP1-REF') == 'Fp1'\n"
        "print(sorted(m for m in ('mne', 'scipy.signal', 'torch') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
