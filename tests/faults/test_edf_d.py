"""Discontinuous EDF+D files (issue 20): the data records were joined as if continuous, so that
every sample after a pause sat too early while the annotations kept their true times. Records
are now placed at their time-keeping onsets, gaps are zero-filled, listed in ``meta["gaps"]``
and masked in the windows; event times stay true.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from eegssm.cli import main
from eegssm.io import EEGReadError, EEGReadWarning, open_recording, read_recording
from eegssm.preprocessing.windowing import make_windows

from _faults import write_edf_d

SFREQ = 64


def _data(records: int, burst_at: int | None = None) -> np.ndarray:
    """4 channels of noise (µV); record ``burst_at`` holds a 1000 µV square burst."""
    rng = np.random.default_rng(0)
    data = rng.normal(0, 20, size=(4, records * SFREQ))
    if burst_at is not None:
        data[:, burst_at * SFREQ : (burst_at + 1) * SFREQ] = 1000.0
    return data


def _read(path, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = read_recording(path, **kw)
    return rec, [str(w.message) for w in caught]


def test_gaps_keep_samples_and_events_at_their_true_times(tmp_path):
    """10 records: 0-4 s, a 100 s pause, 104-109 s. The burst is recorded in the record that
    starts at 106 s, and annotated there."""
    onsets = [0, 1, 2, 3, 104, 105, 106, 107, 108, 109]
    path = write_edf_d(tmp_path / "paused.edf", _data(10, burst_at=6), SFREQ, onsets,
                       annotations=[(106.0, 1.0, "seiz")])  # fmt: skip
    rec, said = _read(path)
    assert rec.meta["format"] == "EDF+D" and rec.duration == 110.0
    assert rec.meta["gaps"] == [[4.0, 104.0]]
    assert any("1 gap(s), 100 s in all" in m for m in said)
    (event,) = rec.events
    assert (event.start, event.stop) == (106.0, 107.0)
    burst = np.flatnonzero(np.abs(rec.data[0]) > 500)
    assert burst[0] == 106 * SFREQ and burst[-1] == 107 * SFREQ - 1  # where the event says
    assert not rec.data[:, 4 * SFREQ : 104 * SFREQ].any()  # the gap is zeros, no NaN
    # windows mask the gap
    win = make_windows(rec, 10.0)
    assert not win.mask[1].any() and win.mask[0, : 4 * SFREQ].all()
    assert not win.mask[0, 4 * SFREQ :].any()


def test_piecewise_reads_match_the_whole(tmp_path):
    onsets = [0, 1, 5, 6, 7, 30]
    path = write_edf_d(tmp_path / "p.edf", _data(6), SFREQ, onsets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EEGReadWarning)
        source = open_recording(path)
        whole = source.load().data
    assert whole.shape[1] == 31 * SFREQ
    for start, stop in ((0, 100), (60, 400), (1900, 31 * SFREQ), (123, 1700)):
        np.testing.assert_array_equal(source.read(start, stop), whole[:, start:stop])


def test_contiguous_edf_d_has_no_gaps_and_no_warning(tmp_path):
    path = write_edf_d(tmp_path / "c.edf", _data(4), SFREQ, [0, 1, 2, 3])
    rec, said = _read(path)
    assert rec.meta["gaps"] == [] and rec.duration == 4.0
    assert not any("EDF+D" in m for m in said)


def test_overlapping_records_are_refused(tmp_path):
    path = write_edf_d(tmp_path / "o.edf", _data(3), SFREQ, [0, 1, 1.5])
    with pytest.raises(EEGReadError, match=r"o\.edf: data record 2 starts at 1\.5 s"):
        _read(path)


def test_a_day_long_pause_in_a_tiny_file_is_refused(tmp_path):
    """Filling the gaps may not cost more than the data or 256 MiB: 3 s of data claiming a
    100-day pause is refused instead of allocated."""
    path = write_edf_d(tmp_path / "far.edf", _data(3), SFREQ, [0, 1, 8_640_000])
    with pytest.raises(EEGReadError, match=r"far\.edf: EDF\+D gaps of .* too long"):
        _read(path)


def test_info_lists_the_gaps(tmp_path, capsys):
    path = write_edf_d(tmp_path / "i.edf", _data(4), SFREQ, [0, 1, 50, 51])
    assert main(["info", str(path)]) == 0
    assert "gaps:      1 (EDF+D pauses, 48.000 s, filled with zeros)" in capsys.readouterr().out
