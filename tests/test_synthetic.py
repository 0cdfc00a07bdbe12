"""Synthetic EEG: determinism, amplitudes, seizure spectrum and spread, real backgrounds, files."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from eegssm.data.synthetic import add_seizures, make_recording, seizure_field, write_synthetic
from eegssm.preprocessing.montages import REFERENTIAL_19

FS = 256.0


def _mask(rec, pad_s=0.0):
    keep = np.ones(rec.n_times, bool)
    for ev in rec.events:
        a, b = int((ev.start - pad_s) * rec.sfreq), int((ev.stop + pad_s) * rec.sfreq)
        keep[max(a, 0) : b] = False
    return keep


def test_same_seed_same_recording():
    a = make_recording(120, n_seizures=1, seed=7, seizure_duration_s=(20, 40))
    b = make_recording(120, n_seizures=1, seed=7, seizure_duration_s=(20, 40))
    c = make_recording(120, n_seizures=1, seed=8, seizure_duration_s=(20, 40))
    np.testing.assert_array_equal(a.data, b.data)
    assert a.events == b.events
    assert not np.array_equal(a.data, c.data)
    assert a.data.dtype == np.float32 and a.data.shape == (19, 120 * 256)
    assert a.ch_names == list(REFERENTIAL_19)


def test_background_does_not_depend_on_seizures():
    quiet = make_recording(120, n_seizures=0, seed=3)
    loud = make_recording(120, n_seizures=1, seed=3, seizure_duration_s=(20, 30))
    assert quiet.events == [] and len(loud.events) == 1
    keep = _mask(loud)
    np.testing.assert_array_equal(quiet.data[:, keep], loud.data[:, keep])


def test_background_amplitude_is_realistic():
    rec = make_recording(60, n_seizures=0, seed=1)
    rms = rec.data.std(axis=1)
    assert (rms > 8).all() and (rms < 60).all()
    # posterior alpha: more 8-12 Hz power on O1/O2 than on Fp1/Fp2
    f, p = signal.welch(rec.data, fs=FS, nperseg=512)
    alpha = p[:, (f >= 8) & (f <= 12)].sum(axis=1)
    idx = {n: i for i, n in enumerate(rec.ch_names)}
    assert alpha[idx["O1"]] > 2 * alpha[idx["Fp1"]] and alpha[idx["O2"]] > 2 * alpha[idx["Fp2"]]
    # pink: 1-4 Hz holds far more power per Hz than 30-40 Hz
    low = p[:, (f >= 1) & (f <= 4)].mean()
    high = p[:, (f >= 30) & (f <= 40)].mean()
    assert low > 5 * high


def test_seizure_segment_power_and_frequency():
    rec = make_recording(200, n_seizures=1, seed=5, seizure_duration_s=(60, 60), artifacts=False)
    (ev,) = rec.events
    assert ev.duration == pytest.approx(60, abs=0.01) and ev.label == "seiz"
    a, b = int(ev.start * FS), int(ev.stop * FS)
    seiz = rec.data[:, a:b]
    bg = rec.data[:, _mask(rec, pad_s=5)]
    f, p_seiz = signal.welch(seiz, fs=FS, nperseg=1024)
    _, p_bg = signal.welch(bg, fs=FS, nperseg=1024)
    band = (f >= 1.5) & (f <= 9)
    assert p_seiz[:, band].sum() > 10 * p_bg[:, band].sum()
    assert 100 < np.abs(seiz).max() < 600  # µV
    excess = (p_seiz - p_bg).mean(axis=0)
    assert 2.0 <= f[np.argmax(excess)] <= 8.5
    # frequency evolves: faster around 20 % of the seizure than in its last quarter
    early = seiz[:, int(0.1 * seiz.shape[1]) : int(0.35 * seiz.shape[1])]
    late = seiz[:, int(0.75 * seiz.shape[1]) :]

    def dominant(x):
        ff, pp = signal.welch(x, fs=FS, nperseg=1024)
        return ff[np.argmax(pp.mean(axis=0) * (ff > 1))]

    assert dominant(early) > dominant(late) + 1.0


def test_seizure_starts_focal_and_spreads():
    rng = np.random.default_rng(0)
    n = int(60 * FS)
    field, focus = seizure_field(rng, REFERENTIAL_19, n, FS, 200.0, p_generalise=1.0)
    assert len(focus) == 3
    early = np.abs(field[:, : int(3 * FS)]).max(axis=1) > 1.0
    late = np.abs(field[:, -int(15 * FS) :]).max(axis=1) > 1.0
    assert early.sum() <= 6
    assert all(early[REFERENTIAL_19.index(n)] for n in focus)
    assert late.all()
    # the focus is the largest
    assert np.abs(field).max() == pytest.approx(np.abs(field[REFERENTIAL_19.index(focus[0])]).max())


def test_regional_seizure_stays_local():
    rng = np.random.default_rng(1)
    field, _ = seizure_field(rng, REFERENTIAL_19, int(30 * FS), FS, 200.0, p_generalise=0.0)
    involved = np.abs(field).max(axis=1) > 0
    assert 3 <= involved.sum() < 19


def test_too_many_seizures_raise():
    with pytest.raises(ValueError, match="cannot place|does not fit"):
        make_recording(60, n_seizures=3, seizure_duration_s=(30, 30))


def test_add_seizures_to_in_memory_background():
    base = make_recording(300, n_seizures=0, seed=2)
    base.ch_names = [f"EEG {n}-REF" for n in base.ch_names]  # raw labels are fine
    out = add_seizures(base, n_seizures=2, seed=9, seizure_duration_s=(15, 30))
    assert len(out.events) == 2 and out.meta["synthetic_seizures"]
    keep = _mask(out)
    np.testing.assert_array_equal(out.data[:, keep], base.data[:, keep])
    assert not np.array_equal(out.data, base.data)
    again = add_seizures(base, n_seizures=2, seed=9, seizure_duration_s=(15, 30))
    np.testing.assert_array_equal(out.data, again.data)


def test_add_seizures_on_real_eegmat(shared_data):
    from eegssm.io import read_recording

    rec = read_recording(shared_data / "eegmat" / "Subject00_2.edf", drop_non_eeg=False)
    out = add_seizures(rec, n_seizures=1, seed=0, seizure_duration_s=(10, 20))
    (ev,) = [e for e in out.events if e not in rec.events]
    assert 10 <= ev.duration <= 20 and 0 <= ev.start and ev.stop <= rec.duration
    ecg = [i for i, n in enumerate(rec.ch_names) if "ECG" in n.upper()]
    np.testing.assert_array_equal(out.data[ecg], rec.data[ecg])  # no position: untouched
    a, b = int(ev.start * rec.sfreq), int(ev.stop * rec.sfreq)
    eeg = [i for i in range(rec.n_channels) if i not in ecg]
    added = out.data[eeg, a:b] - rec.data[eeg, a:b]
    assert np.abs(added).max() > 50


def test_write_synthetic_round_trip(tmp_path):
    from eegssm.io import read_recording
    from eegssm.io.annotations.csv_bi import read_csv_bi
    from eegssm.preprocessing.channels import normalize_channel_names

    edf, csv = write_synthetic(
        tmp_path / "sub" / "syn",
        duration_s=90,
        n_seizures=1,
        seed=4,
        tusz_labels=True,
        seizure_duration_s=(15, 20),
    )
    rec = make_recording(90, n_seizures=1, seed=4, seizure_duration_s=(15, 20))
    back = read_recording(edf)
    assert normalize_channel_names(back.ch_names).names == list(REFERENTIAL_19)
    assert back.sfreq == FS and back.data.shape == rec.data.shape
    step = (rec.data.max() - rec.data.min()) / 65535  # 16-bit EDF resolution
    assert np.abs(back.data - rec.data).max() <= 2 * step + 1e-3
    ann = read_csv_bi(csv)
    (ev,) = ann.seizures
    assert ev.start == pytest.approx(rec.events[0].start, abs=1e-3)
    assert ev.stop == pytest.approx(rec.events[0].stop, abs=1e-3)
    assert ann.duration == pytest.approx(90.0)
