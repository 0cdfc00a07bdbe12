"""Fuzzing the EDF reader: mutated headers and bodies of a valid generated EDF+ file.

Every mutated file must either read (a finite-shaped float32 recording) or fail with
``EEGReadError`` naming the file: never another exception, never a hang (hypothesis ``deadline``
plus a pytest timeout), never a large allocation (``tracemalloc`` on absurd header values).
The default run tries ``N_DEFAULT`` files per test; ``-m slow`` runs ``N_SLOW``.
"""

from __future__ import annotations

import tracemalloc
import warnings
from pathlib import Path

import edfio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eegssm.io import EEGReadError, read_recording
from eegssm.io.annotations import read_edf_annotations
from eegssm.io.edf_header import read_edf_header

N_DEFAULT, N_SLOW = 700, 20_000
NS = 2
#: (offset, width) of the general header fields (EDF spec).
GENERAL = [(0, 8), (8, 80), (88, 80), (168, 8), (176, 8), (184, 8), (192, 44), (236, 8), (244, 8)]
GENERAL += [(252, 4)]
SIGNAL_WIDTHS = [16, 80, 8, 8, 8, 8, 8, 80, 8, 32]
TOKENS = [
    b"-1", b"0", b"1", b"1e12", b"1e308", b"-1e308", b"nan", b"inf", b"-inf", b"99999999",
    b"1e-300", b"-0", b"0x10", b"1.5", b"", b" ", b"abc", b"\xff\xfe", b"+5", b"1_000",
    b"EDF+C", b"EDF+D", b"BDF+C", b"EDF Annotations", b"\x00", b"-99999", b"3.4e38",
]  # fmt: skip


def _signal_fields(ns: int) -> list[tuple[int, int]]:
    out, offset = [], 256
    for width in SIGNAL_WIDTHS:
        out += [(offset + width * i, width) for i in range(ns)]
        offset += width * ns
    return out


FIELDS = GENERAL + _signal_fields(NS + 1)  # two EEG signals and the annotation signal


def _valid_edf(path: Path) -> bytes:
    t = np.arange(4 * 64) / 64
    signals = [
        edfio.EdfSignal(np.sin(2 * np.pi * f * t) * 40, 64, label=lbl, physical_dimension="uV")
        for f, lbl in ((3.0, "Fp1"), (7.0, "Cz"))
    ]
    annotations = [edfio.EdfAnnotation(1.0, 0.5, "seiz"), edfio.EdfAnnotation(2.5, None, "x")]
    edfio.Edf(signals, annotations=annotations).write(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> tuple[Path, bytes]:
    folder = tmp_path_factory.mktemp("fuzz_edf")
    valid = _valid_edf(folder / "valid.edf")
    assert read_recording(folder / "valid.edf").data.shape == (NS, 256)  # imports mne too
    return folder, valid


def _byte_edits(length: int, max_size: int):
    """(position < length, new byte) pairs."""
    edit = st.tuples(st.integers(0, length - 1), st.integers(0, 255))
    return st.lists(edit, min_size=1, max_size=max_size)


@st.composite
def mutated(draw, valid: bytes) -> bytes:
    """One to three mutations of the valid file: header fields, header bytes, body bytes,
    truncation, appended junk."""
    data = bytearray(valid)
    header_len = 256 * (NS + 2)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["field", "field", "hbytes", "body", "truncate", "append"]))
        if kind == "field":
            offset, width = draw(st.sampled_from(FIELDS))
            value = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=width)))
            data[offset : offset + width] = value[:width].ljust(width)
        elif kind == "hbytes":
            for pos, byte in draw(_byte_edits(header_len, 8)):
                if pos < len(data):
                    data[pos] = byte
        elif kind == "body" and len(data) > header_len:
            for pos, byte in draw(_byte_edits(len(data) - header_len, 32)):
                data[header_len + pos] = byte
        elif kind == "truncate":
            data = data[: draw(st.integers(0, len(data)))]
        else:
            data += draw(st.binary(min_size=1, max_size=700))
    return bytes(data)


def _check_file(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rec = read_recording(path)
        except EEGReadError as err:
            assert str(path) in str(err) and err.path == str(path)
        else:
            assert rec.data.dtype == np.float32 and rec.data.ndim == 2
            assert rec.data.shape[0] >= 1 and rec.data.shape[1] >= 1
            assert rec.sfreq > 0 and len(rec.ch_names) == rec.data.shape[0]
            assert all(0 <= ev.start <= ev.stop for ev in rec.events)
        try:
            read_edf_annotations(path)
        except EEGReadError as err:
            assert str(path) in str(err)


def _fuzz(workdir, data: bytes) -> None:
    folder, _ = workdir
    path = folder / "mutated.edf"
    path.write_bytes(data)
    _check_file(path)


FUZZ_SETTINGS = dict(
    deadline=5000,  # ms per file: a hang fails the test
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.timeout(300)
@settings(max_examples=N_DEFAULT, **FUZZ_SETTINGS)
@given(data=st.data())
def test_fuzz_mutated_edf(workdir, data):
    _fuzz(workdir, data.draw(mutated(workdir[1])))


@pytest.mark.slow
@pytest.mark.timeout(7200)
@settings(max_examples=N_SLOW, **FUZZ_SETTINGS)
@given(data=st.data())
def test_fuzz_mutated_edf_large(workdir, data):
    _fuzz(workdir, data.draw(mutated(workdir[1])))


def _set_field(valid: bytes, offset: int, width: int, text: bytes) -> bytes:
    data = bytearray(valid)
    data[offset : offset + width] = text.ljust(width)
    return bytes(data)


SPR0 = _signal_fields(NS + 1)[8 * (NS + 1)]  # samples per record of signal 0


@pytest.mark.parametrize(
    "field, text",
    [
        ((236, 8), b"1e12"),  # 10^12 data records
        ((236, 8), b"99999999"),
        ((244, 8), b"1e-300"),  # record duration → absurd rates
        ((244, 8), b"1e300"),
        (SPR0, b"1e7"),  # samples per record
        (SPR0, b"99999999"),
        ((252, 4), b"9999"),  # number of signals
    ],
)
def test_absurd_header_values_do_not_allocate(workdir, field, text):
    folder, valid = workdir
    path = folder / "absurd.edf"
    path.write_bytes(_set_field(valid, *field, text))
    tracemalloc.start()
    try:
        _check_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{text!r} in field {field}: peak {peak / 2**20:.0f} MiB"


def test_header_values_that_used_to_crash(workdir):
    """Regression: ``inf`` in an integer field raised OverflowError; a control character
    (``\\x1f``, whitespace to ``str.strip``) in a label made mne read fewer signals (IndexError)."""
    folder, valid = workdir
    cases = {
        "inf-records": _set_field(valid, 236, 8, b"inf"),
        "inf-signals": _set_field(valid, 252, 4, b"inf"),
        "control-label": _set_field(valid, 256, 16, b"\x1fp1"),
    }
    for name, data in cases.items():
        path = folder / f"{name}.edf"
        path.write_bytes(data)
        with pytest.raises(EEGReadError, match=name):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                read_recording(path)
    assert read_edf_header(folder / "valid.edf").n_records == 4
