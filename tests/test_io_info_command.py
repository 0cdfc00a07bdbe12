"""``eegssm info``: text and JSON summaries, errors without tracebacks."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from eegssm.commands import info
from eegssm.io import Event, Recording
from eegssm.io.annotations import write_csv_bi, write_edf


def _run(argv):
    parser = argparse.ArgumentParser(prog="eegssm")
    info.register(parser.add_subparsers())
    args = parser.parse_args(["info", *argv])
    return args.func(args)


@pytest.fixture
def edf(tmp_path):
    rng = np.random.default_rng(0)
    rec = Recording(
        data=rng.normal(scale=20, size=(3, 600)).astype(np.float32),
        sfreq=200.0,
        ch_names=["Fp1", "Cz", "ECG"],
        events=[Event(0.5, 1.5, "seiz"), Event(2.0, 2.5, "artf")],
        meta={"start_time": "2020-01-02T03:04:05"},
    )
    return write_edf(tmp_path / "rec.edf", rec)


def test_info_recording_text(edf, capsys):
    assert _run([str(edf), "--max-events", "1"]) == 0
    out = capsys.readouterr().out
    assert "rate:      200 Hz" in out
    assert "duration:  3.000 s" in out
    assert "channels (2): Fp1, Cz" in out and "dropped non-EEG (1): ECG" in out
    assert "events (2):" in out and "seiz" in out and "artf" not in out
    assert "1 more (use --max-events -1" in out
    assert "start:     2020-01-02T03:04:05" in out


def test_info_json_all_channels(edf, capsys):
    assert _run([str(edf), "--json", "--all-channels"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["channels"] == ["Fp1", "Cz", "ECG"] and data["dropped_channels"] == []
    assert data["events"][1] == {
        "start": 2.0,
        "stop": 2.5,
        "label": "artf",
        "channel": "TERM",
        "confidence": 1.0,
    }


def test_info_annotation_file(tmp_path, capsys):
    path = write_csv_bi(tmp_path / "a.csv_bi", [Event(1.0, 2.0)], 10.0)
    assert _run([str(path)]) == 0
    out = capsys.readouterr().out
    assert "TUSZ csv_bi (csv_v1.0.0)" in out and "events (1):" in out


def test_info_bad_file_is_a_clean_error(tmp_path, capsys):
    path = tmp_path / "broken.edf"
    path.write_bytes(b"0       " + b"x" * 100)
    assert _run([str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "broken.edf" in err and "truncated header" in err
    assert "Traceback" not in err


def test_info_help_lists_inputs(capsys):
    with pytest.raises(SystemExit):
        _run(["--help"])
    out = capsys.readouterr().out
    assert "EDF+" in out and ".csv_bi" in out and "--all-channels" in out and "examples:" in out
