"""Hostile or odd input files (cases 2, 3, 12, 13 and 14 of issue 20): sizes derived from a
header are checked against the file and sane limits before anything is allocated, no command
reads a whole signal or an unbounded stream to describe it, and errors name the file without
quoting its content. Runs that could allocate without bound go to a subprocess under a 2 GB
address-space limit (``RLIMIT_AS``) with their peak memory measured.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from eegssm.cli import main
from eegssm.data.synthetic import make_recording
from eegssm.io.annotations import write_csv_bi, write_edf
from eegssm.io.types import Event

from _faults import TEN_TWENTY, edf_header, run_limited

pytestmark = pytest.mark.timeout(600)
GB = 1 << 30


def hostile_edf(path: Path, spr: int = 256, records: int = 2, record_s: str = "1000000") -> Path:
    """19 EEG channels whose header claims ``record_s``-second records: 24 KB with the defaults
    (2 records of 256 samples per channel, i.e. 2.56e-4 Hz over 2e6 s)."""
    head = edf_header(19, spr, records, record_s, labels=TEN_TWENTY)
    rng = np.random.default_rng(0)
    body = rng.integers(-3000, 3000, size=records * 19 * spr, dtype="<i2").tobytes()
    path.write_bytes(head + body)
    return path


@pytest.mark.faults
def test_24_kb_edf_claiming_million_second_records(tmp_path):
    """Case 2: was a 37.6 GiB allocation in resampling and a traceback; now the header is
    refused (a 2.56e-4 Hz rate) before any sample is read, naming the file."""
    path = hostile_edf(tmp_path / "hostile.edf")
    assert path.stat().st_size == 24_576
    run = run_limited(["detect", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert run.rc == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr and "MemoryError" not in run.stderr
    (line,) = run.error_lines
    assert str(path) in line and "Hz" in line
    assert run.maxrss_mb < 1024


@pytest.mark.faults
def test_rate_that_passes_the_header_is_refused_before_resampling(tmp_path):
    """A 1.2e-3 Hz file (one 1e6-second record): the header accepts the rate, preprocessing
    refuses to resample it 213 000-fold (19 GB) and names the file."""
    path = hostile_edf(tmp_path / "slow.edf", spr=1200, records=1)
    run = run_limited(["detect", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert run.rc == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    (line,) = run.error_lines
    assert str(path) in line and "cannot resample" in line
    assert run.maxrss_mb < 1024


@pytest.mark.faults
def test_build_cache_lists_the_hostile_file_as_failed_for_its_rate(tmp_path):
    """The cache builder logs the hostile file as failed (with the rate as the reason, not a
    MemoryError) and caches the good one, in bounded memory."""
    data = tmp_path / "data"
    data.mkdir()
    hostile_edf(data / "hostile.edf")
    write_edf(data / "good.edf", make_recording(30, n_seizures=0, seed=1))
    cache = tmp_path / "cache"
    run = run_limited(
        ["build-cache", "--data-dir", str(data), "--cache-dir", str(cache), "--workers", "1",
         "--no-progress"],
    )  # fmt: skip
    assert run.rc == 0, run.stderr[-3000:]
    manifest = json.loads((cache / "manifest.json").read_text())
    assert [r["relpath"] for r in manifest["recordings"]] == ["good.edf"]
    (failed,) = manifest["failed"]
    assert failed["relpath"] == "hostile.edf"
    reason = failed["reason"]
    assert "Hz" in reason and "MemoryError" not in reason, reason
    assert run.maxrss_mb < 1024


@pytest.mark.faults
@pytest.mark.parametrize("sfreq", [1e-5, 5e7])
def test_absurd_sampling_rate_error_names_the_file(sfreq):
    """Case 12: an in-memory recording at an absurd rate: the error names its source file
    (it did not), before anything is allocated."""
    code = f"""
import numpy as np
from eegssm.data.synthetic import REFERENTIAL_19
from eegssm.io.types import Recording
from eegssm.preprocessing import PreprocessError, preprocess
data = np.random.default_rng(0).normal(0, 20, (19, 64)).astype(np.float32)
rec = Recording(data, {sfreq!r}, list(REFERENTIAL_19), [], {{"source": "weird.edf"}})
try:
    preprocess(rec, "seizure")
except PreprocessError as err:
    print("ERROR", err)
"""
    run = run_limited(code=code, address_space=GB * 2)
    assert run.rc == 0, run.stderr[-3000:]
    assert run.stdout.startswith("ERROR weird.edf: "), run.stdout
    assert "Hz" in run.stdout


@pytest.mark.parametrize("record_s", ["1e-300", "1e300"])
def test_absurd_record_duration_is_a_header_error(tmp_path, record_s):
    from eegssm.io import EEGReadError, read_recording

    path = hostile_edf(tmp_path / "odd.edf", records=1, record_s=record_s)
    with pytest.raises(EEGReadError, match=r"odd\.edf: signal 'Fp1': .* Hz, outside"):
        read_recording(path)


def sparse_edf(path: Path, hours: float) -> Path:
    """A valid 19-channel 256 Hz EDF of ``hours`` (a sparse file: all samples zero)."""
    records = int(hours * 3600)
    head = edf_header(19, 256, records, "1", labels=TEN_TWENTY)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(len(head) + records * 19 * 256 * 2)
    return path


@pytest.mark.faults
@pytest.mark.timeout(1500)  # a hang guard: ~10 s of CPU, but 2 GB to read on a busy machine
def test_info_never_loads_the_whole_signal(tmp_path):
    """Case 3: ``eegssm info`` read every sample (12.3 GB resident for a 2 GB file). A 2 GB file
    (58 h; 8 GB as float64) now stays far below 500 MB, and the value checks still run. Under a
    3 GB address-space limit, so that the old behaviour fails instead of exhausting the
    machine."""
    path = sparse_edf(tmp_path / "long.edf", 58.0)
    assert path.stat().st_size > 2e9
    run = run_limited(["info", str(path)], address_space=3 << 30, timeout=1200)
    assert run.rc == 0, run.stderr[-3000:]
    assert "duration:  208800.000 s" in run.stdout
    assert "flat channel(s)" in run.stderr  # the block-wise value scan ran
    assert run.maxrss_mb < 500, run.maxrss_mb


SECRET = "root:x:0:0:SECRET-42-TOKEN:/root:/bin/bash"


@pytest.fixture
def hyp(tmp_path) -> Path:
    return write_csv_bi(tmp_path / "hyp.csv_bi", [Event(10, 20, "seiz")], 100.0)


@pytest.mark.parametrize("name", ["passwd", "passwd.csv_bi", "passwd.tsv"])
def test_score_on_a_non_annotation_file_does_not_echo_it(tmp_path, hyp, capsys, name):
    """Case 13: the error quoted the file's first line (a line of a system password file);
    now it names the file and says what is wrong, quoting nothing."""
    other = tmp_path / name
    other.write_text(SECRET + "\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n")
    assert main(["score", str(other), str(hyp)]) == 2
    out = capsys.readouterr()
    assert "SECRET" not in out.err + out.out and "root:x" not in out.err + out.out
    assert str(other) in out.err


@pytest.mark.faults
def test_score_dev_zero_fails_cleanly_in_bounded_memory(hyp):
    """Case 14: ``score /dev/zero`` read without bound; now refused as not a regular file."""
    run = run_limited(["score", "/dev/zero", str(hyp)], timeout=60)
    assert run.rc == 2, run.stderr[-3000:]
    assert "/dev/zero" in run.stderr and "not a regular file" in run.stderr
    assert run.maxrss_mb < 512


@pytest.mark.faults
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_score_on_a_named_pipe_does_not_hang(tmp_path, hyp):
    fifo = tmp_path / "pipe.csv_bi"
    os.mkfifo(fifo)
    run = run_limited(["score", str(fifo), str(hyp)], timeout=60)
    assert run.rc == 2 and "not a regular file" in run.stderr
