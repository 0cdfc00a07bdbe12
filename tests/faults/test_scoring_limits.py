"""Scoring in bounded time and memory (case 6 of issue 20): DPALIGN needed an ``(M, N)`` matrix
(1.5 GB for 20 000 events a side, 3.64 TiB for a million), SzCORE took minutes. Every scorer now
handles :data:`~eegssm.scoring.segments.MAX_EVENTS` (20 000) seizure events per file and side in
under 60 s and 1 GB, and refuses more (or files longer than 7 days) with an error naming the
file. The banded DPALIGN is checked against the full-matrix reference on random inputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eegssm.io.annotations import write_csv_bi
from eegssm.io.types import Event
from eegssm.scoring import dpalign, score_pairs, seizure_track
from eegssm.scoring import segments as seg

from _faults import run_limited

pytestmark = pytest.mark.timeout(900)
MAX_EVENTS = 20_000  # the requirement; the stated limit (seg.MAX_EVENTS) is this
DURATION = 600_000.0  # s (6.9 days): room for 20 000 events 30 s apart


def _alternating(k: int, first: int) -> np.ndarray:
    """Sentinel-framed alternating labels, as DPALIGN builds them."""
    return np.concatenate(([0], (np.arange(k) + first) % 2 + 1, [0]))


def test_banded_dpalign_equals_the_full_matrix_alignment():
    """Same alignment as the full-matrix reference (NEDC tie-breaking) on 2 000 random pairs:
    arbitrary symbol strings and NEDC's alternating label sequences, lengths 1 to 60, block
    sizes 1 to 7 and the default."""
    rng = np.random.default_rng(20)
    for trial in range(2000):
        m, n = (int(v) for v in rng.integers(1, 61, size=2))
        if trial % 2:
            ref, hyp = rng.integers(0, 3, m), rng.integers(0, 3, n)
        else:
            ref = _alternating(m, int(rng.integers(0, 2)))
            hyp = _alternating(n, int(rng.integers(0, 2)))
        block = int(rng.integers(1, 8)) if trial % 3 else None
        got, want = dpalign.align(ref, hyp, block), dpalign.align_reference(ref, hyp)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), (ref, hyp)


def _events(n: int, shift: float) -> list[Event]:
    step = DURATION / max(n, 1)
    return [
        Event(i * step + shift, i * step + shift + min(10.0, step / 3), "seiz") for i in range(n)
    ]


def _pair(folder: Path, n_ref: int, n_hyp: int, duration: float = DURATION) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    ref = write_csv_bi(folder / "ref.csv_bi", _events(n_ref, 1.0), duration, bname="rec")
    hyp = write_csv_bi(folder / "hyp.csv_bi", _events(n_hyp, 4.0), duration, bname="rec")
    return [str(ref), str(hyp)]


@pytest.mark.faults
@pytest.mark.parametrize("n_hyp", [MAX_EVENTS, MAX_EVENTS // 2])
def test_every_scorer_handles_the_event_limit_in_a_minute_and_a_gigabyte(tmp_path, n_hyp):
    """20 000 reference events against 20 000 (DPALIGN's narrow band) and 10 000 hypothesis
    events (its widest band), all five methods, through ``eegssm score``."""
    args = ["score", *_pair(tmp_path, MAX_EVENTS, n_hyp)]
    run = run_limited(args, timeout=600)
    assert run.rc == 0, run.stderr[-3000:]
    assert "DPALIGN SCORING SUMMARY" in run.stdout and "SZCORE" in run.stdout
    assert run.cpu_s < 60, run.cpu_s  # CPU seconds: the wall time varies with the machine's load
    assert run.maxrss_mb < 1024, run.maxrss_mb


@pytest.mark.faults
def test_one_event_past_the_limit_is_a_clear_error(tmp_path):
    assert seg.MAX_EVENTS == MAX_EVENTS
    run = run_limited(["score", *_pair(tmp_path, MAX_EVENTS + 1, 10)], timeout=120)
    assert run.rc == 2 and "Traceback" not in run.stderr
    assert (
        f"{MAX_EVENTS + 1} seizure events" in run.stderr and f"at most {MAX_EVENTS}" in run.stderr
    )


@pytest.mark.faults
def test_a_million_events_are_refused_quickly_in_bounded_memory(tmp_path):
    """The issue's 1e6-event file (about 40 MB) is refused by its size before parsing; a
    14 MB file of 350 000 events is parsed and refused by the event limit."""
    rows = "".join(f"TERM,{i * 0.5:.4f},{i * 0.5 + 0.25:.4f},seiz,1.0000\n" for i in range(10**6))
    head = "# version = csv_v1.0.0\n# bname = rec\n# duration = 600000.0000 secs\n#\n"
    big = tmp_path / "big.csv_bi"
    big.write_text(head + "channel,start_time,stop_time,label,confidence\n" + rows)
    hyp = _pair(tmp_path / "h", 1, 1)[1]
    run = run_limited(["score", str(big), hyp], timeout=60)
    assert run.rc == 2 and "too large" in run.stderr and str(big) in run.stderr, run.stderr
    assert run.maxrss_mb < 512

    mid = tmp_path / "mid.csv_bi"
    cut = rows.index("\n", len(rows) * 35 // 100) + 1  # the first 350 000 rows
    mid.write_text(head + "channel,start_time,stop_time,label,confidence\n" + rows[:cut])
    run = run_limited(["score", str(mid), hyp], timeout=120)
    assert run.rc == 2 and f"at most {MAX_EVENTS}" in run.stderr, run.stderr
    assert run.maxrss_mb < 1024, run.maxrss_mb


@pytest.mark.faults
def test_a_duration_beyond_seven_days_is_refused(tmp_path):
    """A csv_bi claiming 1e9 s: EPOCH would need 4e9 epochs, SzCORE a 2.6e11-sample mask."""
    args = ["score", *_pair(tmp_path, 2, 2, duration=1e9)]
    run = run_limited(args, timeout=60)
    assert run.rc == 2 and "Traceback" not in run.stderr
    assert f"at most {seg.MAX_DURATION_S:.0f} s" in run.stderr


def test_the_scorers_check_the_limits_themselves():
    """Each scorer function refuses a track past the limits (not only ``eegssm score``)."""
    from eegssm.scoring import epoch, overlap, szcore, taes

    big = seizure_track(_events(MAX_EVENTS + 1, 0.0), DURATION, "big")
    small = seizure_track([], DURATION, "big")
    for scorer in (overlap.score, taes.score, epoch.score, dpalign.score, szcore.score):
        with pytest.raises(ValueError, match="big: 20001 seizure events"):
            scorer(big, small)
    with pytest.raises(ValueError, match="at most"):
        score_pairs([(big, small)])
