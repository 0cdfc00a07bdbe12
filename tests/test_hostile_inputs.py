"""Odd but possible recordings through read → preprocess → windows (and the cache builder).

Each case is either processed correctly (finite windows of the preset's exact length, right
rate, masks) or refused with a message naming the file. Non-finite samples are refused
(``NonFiniteSignalError``), never repaired silently and never passed on to a model.
"""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import edfio
import numpy as np
import pytest

from eegssm.data.cache import build_cache
from eegssm.data.manifest import Manifest
from eegssm.data.synthetic import make_recording
from eegssm.io import EEGReadWarning, read_recording
from eegssm.io.annotations import write_edf
from eegssm.io.edf_header import read_edf_header
from eegssm.io.types import Recording
from eegssm.preprocessing import (
    NonFiniteSignalError,
    PreprocessConfig,
    PreprocessError,
    get_preset,
    preprocess,
    preprocess_windows,
)
from eegssm.preprocessing.windowing import n_windows

SEIZURE_WINDOW = 60 * 256  # samples in a seizure-preset window


def _edf(path: Path, seconds: float, sfreq: float, seed: int = 0, **kw) -> Path:
    rec = make_recording(seconds, sfreq=sfreq, n_seizures=0, seed=seed, artifacts=False, **kw)
    return write_edf(path, rec)


def _windows(path: Path, preset="seizure"):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rec = read_recording(path)
        win = preprocess_windows(rec, preset)
    return rec, win, [str(w.message) for w in caught]


def _assert_clean(win, sfreq=256.0, window=SEIZURE_WINDOW, clip=10.0):
    assert win.sfreq == sfreq and win.x.shape[1:] == (19, window)
    assert np.isfinite(win.x).all()
    assert np.abs(win.x).max() <= clip


def _patch(path: Path, offset: int, text: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + len(text)] = text
    path.write_bytes(bytes(data))


def _signal_field(ns: int, field: int, signal: int) -> int:
    widths = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32]
    return 256 + sum(w * ns for w in widths[:field]) + widths[field] * signal


# -- non-finite samples --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_samples_are_refused_naming_the_channel(bad):
    rec = make_recording(20, sfreq=256, n_seizures=0, seed=1)
    data = rec.data.copy()
    data[4, 1000:1010] = bad
    rec = rec.copy_with(data=data, meta={**rec.meta, "source": "night.edf"})
    pattern = rf"night\.edf: 10 non-finite .* {rec.ch_names[4]}"
    with pytest.raises(NonFiniteSignalError, match=pattern) as info:
        preprocess_windows(rec, "seizure")
    assert isinstance(info.value, ValueError)


def test_non_finite_in_an_unused_channel_is_ignored():
    rec = make_recording(20, sfreq=256, n_seizures=0, seed=1)
    extra = np.full((1, rec.n_times), np.nan, dtype=np.float32)
    rec = Recording(np.vstack([rec.data, extra]), rec.sfreq, [*rec.ch_names, "EKG"], [], rec.meta)
    _assert_clean(preprocess_windows(rec, "seizure"))  # ref19 does not use EKG


def test_overflowing_edf_scaling_fails_the_cache_entry_not_the_model(tmp_path):
    """A physical range of ±9e99 µV decodes to inf in float32: the cache records a failure
    with the reason; the good recording's windows are finite."""
    data = tmp_path / "data"
    data.mkdir()
    good = _edf(data / "good.edf", 30, 256, seed=1)
    bad = _edf(data / "bad.edf", 30, 256, seed=2)
    ns = read_edf_header(bad).labels.index("Fp1")
    n = len(read_edf_header(bad).labels)
    _patch(bad, _signal_field(n, 3, ns), b"-9e99   ")
    _patch(bad, _signal_field(n, 4, ns), b"9e99    ")
    report = build_cache(data, tmp_path / "cache", progress=False)
    assert report.built == [good.name]
    assert [f["relpath"] for f in report.failed] == [bad.name]
    assert "NonFiniteSignalError" in report.failed[0]["reason"]
    assert "Fp1" in report.failed[0]["reason"]
    entry = Manifest.load(tmp_path / "cache").recordings[0]
    assert np.isfinite(np.load(tmp_path / "cache" / entry["files"]["signal"])).all()


# -- flat, disconnected, clipped -----------------------------------------------------------------


def test_flat_disconnected_and_clipped_channels_are_processed(tmp_path):
    rec = make_recording(40, sfreq=256, n_seizures=0, seed=3)
    data = rec.data.copy()
    data[0] = 12.5  # flat (DC offset)
    data[1] = 0.0  # disconnected electrode read as zeros
    data[2] = np.clip(data[2] * 40, -150, 150)  # amplifier saturating at ±150 µV
    path = write_edf(tmp_path / "odd.edf", rec.copy_with(data=data))
    read, win, messages = _windows(path)
    _assert_clean(win)
    flat = f"flat channel(s) (constant value): {rec.ch_names[0]}, {rec.ch_names[1]}"
    assert any(flat in m for m in messages)
    # flat input channels are treated as missing (interpolated for the referential preset) ...
    with pytest.warns(UserWarning, match=r"flat channel\(s\) Fp1, F3 .* treated as missing"):
        clean = preprocess(read, "seizure")
    assert clean.meta["flat_inputs"] == rec.ch_names[:2] == clean.meta["interpolated"]
    assert np.abs(win.x[:, :3]).max() > 0.5
    # ... and without that check they stay zeros (the z-score would blow round-off up)
    kept = preprocess(read, get_preset("seizure", flat_uv=None))
    assert kept.meta["flat"] == rec.ch_names[:2] and not kept.data[:2].any()


# -- sampling rates ------------------------------------------------------------------------------


def test_one_hertz_file_is_upsampled_with_a_warning(tmp_path):
    path = _edf(tmp_path / "slow.edf", 120, 1.0)
    rec, win, messages = _windows(path)
    assert rec.sfreq == 1.0 and len(win) == n_windows(120 * 256, SEIZURE_WINDOW, 2560)
    _assert_clean(win)
    assert any("upsampling 1 Hz to 256 Hz" in m for m in messages)


def test_hundred_kilohertz_file_gets_the_exact_rate_and_window(tmp_path):
    path = _edf(tmp_path / "fast.edf", 2, 100_000.0)
    rec, win, messages = _windows(path)
    assert rec.sfreq == 100_000.0
    _assert_clean(win)  # exactly 256 Hz and 15360 samples (was 256.08 Hz, 15365 samples)
    assert not any("reaches" in m for m in messages)
    assert win.mask[0].sum() == 2 * 256


def test_channels_with_different_rates_are_resampled_with_a_warning(tmp_path):
    rec = make_recording(30, sfreq=256, n_seizures=0, seed=4, artifacts=False)
    signals = [
        edfio.EdfSignal(row[::2] if name == "O2" else row, 128 if name == "O2" else 256,
                        label=name, physical_dimension="uV")
        for name, row in zip(rec.ch_names, rec.data.astype(np.float64))
    ]  # fmt: skip
    path = tmp_path / "mixed.edf"
    edfio.Edf(signals).write(path)
    read, win, messages = _windows(path)
    assert read.sfreq == 256 and read.meta["native_sfreq"]["O2"] == 128
    assert any("different sampling rates" in m and "O2 128 Hz" in m for m in messages)
    _assert_clean(win)


# -- durations -----------------------------------------------------------------------------------


def test_one_second_file_gives_one_padded_window(tmp_path):
    path = _edf(tmp_path / "short.edf", 1, 256)
    _, win, _ = _windows(path)
    _assert_clean(win)
    assert len(win) == 1 and win.mask.sum() == 256 and not win.x[0, :, 256:].any()


def test_too_short_to_filter_is_refused_naming_the_file(tmp_path):
    rec = make_recording(0.125, sfreq=256, n_seizures=0, seed=0)  # 32 samples
    path = write_edf(tmp_path / "blip.edf", rec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EEGReadWarning)
        with pytest.raises(PreprocessError, match=r"blip\.edf: too short to filter"):
            preprocess_windows(read_recording(path), "seizure")


def _long_header(path: Path, hours: float, ns: int, spr: int) -> Path:
    """An EDF header for ``hours`` of ``ns`` signals of ``spr`` samples per 1 s record, with a
    sparse (unallocated) data section of the right size."""
    records = int(hours * 3600)
    head = b"0".ljust(8) + b"X X X X".ljust(80) + b"Startdate X X X X".ljust(80)
    head += b"01.01.20" + b"00.00.00" + str(256 * (ns + 1)).encode().ljust(8) + b" " * 44
    head += str(records).encode().ljust(8) + b"1".ljust(8) + str(ns).encode().ljust(4)
    fields = [
        [f"EEG{i}".encode() for i in range(ns)], [b""] * ns, [b"uV"] * ns, [b"-3200"] * ns,
        [b"3200"] * ns, [b"-32768"] * ns, [b"32767"] * ns, [b""] * ns,
        [str(spr).encode()] * ns, [b""] * ns,
    ]  # fmt: skip
    widths = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32]
    for values, width in zip(fields, widths):
        head += b"".join(v.ljust(width) for v in values)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + records * ns * spr * 2)
    return path


def test_48_hour_header_and_window_count_without_reading_samples(tmp_path):
    """48 h of 19 channels at 256 Hz (1.6 GiB of samples, a sparse file): the header path
    reports the duration and the window count without allocating the samples."""
    path = _long_header(tmp_path / "long.edf", 48, 19, 256)
    tracemalloc.start()
    try:
        header = read_edf_header(path)
        count = n_windows(int(header.duration * 256), SEIZURE_WINDOW, 2560)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert header.duration == 48 * 3600 and header.sfreqs["EEG0"] == 256
    assert count == 1 + (48 * 3600 - 60) // 10
    assert peak < 1 << 20


def test_48_hour_file_reads_preprocesses_and_windows(tmp_path):
    """48 h end to end at a low rate (1 channel, 4 Hz): 2880 one-minute windows."""
    path = _long_header(tmp_path / "long.edf", 48, 1, 4)
    cfg = PreprocessConfig(montage="as_is", sfreq=None, l_freq=0.5, h_freq=None, notch=None,
                           window_s=60.0, stride_s=60.0, flat_uv=None)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EEGReadWarning)  # flat (all-zero) channel
        rec = read_recording(path)
        win = preprocess_windows(rec, cfg, copy=False)
    assert rec.duration == 48 * 3600 and len(win) == 2880 and win.x.shape[1:] == (1, 240)
    assert np.isfinite(win.x).all()
