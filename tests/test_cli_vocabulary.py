"""One CLI vocabulary: ``--out`` and ``-q`` on every command that writes (old spellings kept),
``--threads`` vs ``--workers``, defaults in ``--help``, one-line warnings, unknown reference
labels as errors with ``--label-map``, and ``info`` on every annotation format."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from eegssm.cli import COMMAND_MODULES, build_parser, command_name, main, show_warning
from eegssm.io import EEGReadError

WRITERS = ["detect", "evaluate", "train", "pretrain", "finetune", "classify"]
POSITIONALS = {
    "detect": ["f.edf"],
    "evaluate": ["ckpt", "data"],
    "train": ["c.yaml"],
    "pretrain": ["c.yaml"],
    "finetune": ["c.yaml"],
    "classify": ["ckpt", "f.edf"],
}


def _parse(argv: list[str]):
    return build_parser(argv[0]).parse_args(argv)


def _registered() -> set[str]:
    return {command_name(m) for m in COMMAND_MODULES}


@pytest.mark.parametrize("command", WRITERS)
def test_writers_take_out_and_quiet(command):
    if command not in _registered():
        pytest.skip(f"{command} is not a command in this version")
    args = _parse([command, *POSITIONALS[command], "--out", "X", "-q"])
    assert args.out == Path("X") and args.quiet is True
    args = _parse([command, *POSITIONALS[command], "--quiet"])
    assert args.quiet is True


@pytest.mark.parametrize("command", ["detect", "evaluate", "train", "pretrain", "finetune"])
def test_old_output_dir_spelling_still_works(command):
    args = _parse([command, *POSITIONALS[command], "--output-dir", "Y"])
    assert args.out == Path("Y")


@pytest.mark.parametrize("command", ["pretrain", "finetune", "build-cache", "detect"])
def test_old_no_progress_spelling_still_works(command):
    extra = ["--data-dir", "d", "--cache-dir", "c"] if command == "build-cache" else []
    args = _parse([command, *POSITIONALS.get(command, []), *extra, "--no-progress"])
    assert args.quiet is True
    args = _parse([command, *POSITIONALS.get(command, []), *extra, "-q"])
    assert args.quiet is True


def test_workers_are_processes_threads_are_threads(capsys):
    args = _parse(["build-cache", "--data-dir", "d", "--cache-dir", "c", "--workers", "3"])
    assert args.workers == 3
    args = _parse(["train", "c.yaml", "--workers", "2", "--threads", "4"])
    assert (args.workers, args.threads) == (2, 4)
    for command in ("detect", "evaluate", "pretrain", "finetune", "monitor"):
        pos = ["src"] if command == "monitor" else POSITIONALS[command]
        assert _parse([command, *pos, "--threads", "2"]).threads == 2
    args = _parse(["detect", "f.edf", "--workers", "2"])  # detect's old meaning, with a note
    assert args.threads == 2
    assert "use --threads" in capsys.readouterr().err


def test_help_shows_defaults():
    missing = []
    for module in COMMAND_MODULES:
        name = command_name(module)
        parser = build_parser(name)
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        text = sub.choices[name].format_help()
        for action in sub.choices[name]._actions:
            default = action.default
            if not action.option_strings or action.help == "==SUPPRESS==":
                continue
            if default in (None, False, [], "==SUPPRESS==") or action.dest == "help":
                continue
            flat = " ".join(text.split())
            if "default" not in (action.help or "").lower() and f"(default: {default}" not in flat:
                missing.append(f"{name} {action.option_strings[-1]}={default!r}")
    assert not missing, "defaults not shown in --help: " + ", ".join(missing)


def test_warnings_print_as_one_clean_line(tmp_path, capsys):
    import io

    buf = io.StringIO()
    show_warning(UserWarning("a.edf: flat\nchannel(s): Cz"), UserWarning, "x.py", 3, buf)
    show_warning(RuntimeWarning("odd"), RuntimeWarning, "x.py", 3, buf)
    assert buf.getvalue() == "warning: a.edf: flat channel(s): Cz\nwarning (RuntimeWarning): odd\n"

    from eegssm.data.synthetic import make_recording
    from eegssm.io.annotations import write_edf

    rec = make_recording(30.0, n_seizures=0, seed=1)
    rec.data[3] = 5.0  # a flat channel: the reader warns
    write_edf(tmp_path / "flat.edf", rec)
    argv = ["detect", str(tmp_path / "flat.edf"), "--out", str(tmp_path / "out"), "-q"]
    with warnings.catch_warnings():  # not pytest's recorder: warnings reach showwarning
        warnings.simplefilter("always")
        assert main(argv) == 0
        lines = capsys.readouterr().err.splitlines()
    assert any(line.startswith("warning: ") and "flat channel" in line for line in lines)
    assert not any(".py:" in line or "warnings.warn" in line for line in lines), lines


# -- unknown labels in reference files --------------------------------------------------------
CSV_BI = """# version = csv_v1.0.0
# bname = rec
# duration = 100.0000 secs
# montage_file = nedc_eas_default_montage.txt
#
channel,start_time,stop_time,label,confidence
TERM,10.0000,30.0000,{label},1.0000
"""


def test_unknown_label_is_an_error_naming_file_and_line(tmp_path):
    from eegssm.io.annotations import read_bids_events, read_csv_bi, read_tusz_csv

    path = tmp_path / "rec.csv_bi"
    path.write_text(CSV_BI.format(label="siez"))
    with pytest.raises(EEGReadError, match=r"rec\.csv_bi: line 7: unknown label 'siez'"):
        read_csv_bi(path)
    assert read_csv_bi(path, {"siez": "seiz"}).seizures[0].start == 10.0
    for ok in ("seiz", "bckg", "FNSZ", "eyem_musc"):
        path.write_text(CSV_BI.format(label=ok))
        assert read_csv_bi(path).events
    multi = tmp_path / "rec.csv"
    multi.write_text(CSV_BI.format(label="gnzs").replace("TERM,", "FP1-F7,"))
    with pytest.raises(EEGReadError, match="line 7: unknown label 'gnzs'"):
        read_tusz_csv(multi)
    tsv = tmp_path / "rec_events.tsv"
    tsv.write_text("onset\tduration\teventType\n1\t2\tsz_foc\n3\t4\tseizure\n")
    with pytest.raises(EEGReadError, match="line 3: unknown label 'seizure'"):
        read_bids_events(tsv)
    assert len(read_bids_events(tsv, {"seizure": "sz"}).events) == 2


def test_score_and_info_refuse_then_map_a_typo(tmp_path, capsys):
    ref, hyp = tmp_path / "ref" / "rec.csv_bi", tmp_path / "hyp" / "rec.csv_bi"
    ref.parent.mkdir()
    hyp.parent.mkdir()
    ref.write_text(CSV_BI.format(label="siez"))
    hyp.write_text(CSV_BI.format(label="seiz"))
    assert main(["score", str(ref), str(hyp), "--method", "overlap"]) == 2
    err = capsys.readouterr().err
    assert "rec.csv_bi: line 7: unknown label 'siez'" in err and "--label-map" in err
    code = main(["score", str(ref), str(hyp), "--method", "overlap", "--label-map", "siez=seiz"])
    assert code == 0
    assert "1" in capsys.readouterr().out
    assert main(["info", str(ref)]) == 1
    assert "line 7" in capsys.readouterr().err
    assert main(["info", str(ref), "--label-map", "siez=seiz", "--json"]) == 0


def test_detect_reference_typo_then_label_map(tmp_path, capsys):
    from eegssm.data.synthetic import make_recording
    from eegssm.io.annotations import write_edf

    write_edf(tmp_path / "rec.edf", make_recording(40.0, n_seizures=0, seed=2))
    (tmp_path / "rec.csv_bi").write_text(CSV_BI.format(label="siez").replace("100.0", "40.0"))
    argv = ["detect", str(tmp_path / "rec.edf"), "--out", str(tmp_path / "out"), "-q"]
    assert main(argv) == 1
    assert "rec.csv_bi: line 7: unknown label 'siez'" in capsys.readouterr().err
    assert main([*argv, "--label-map", "siez=seiz"]) == 0


# -- info on every annotation format ----------------------------------------------------------
def test_info_reads_chbmit_summary_and_siena_list(shared_data, capsys):
    base = shared_data / "annotation_formats"
    assert main(["info", str(base / "chbmit" / "chb05" / "chb05-summary.txt")]) == 0
    out = capsys.readouterr().out
    assert "CHB-MIT summary" in out and "chb05_06.edf" in out and "seiz" in out
    siena = next((base / "siena").rglob("Seizures-list-*.txt"))
    assert main(["info", str(siena), "--json"]) == 0
    import json

    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "Siena seizure list" and doc["events"] and doc["sfreq_hz"] == 512
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["info", str(base / "chbmit" / "chb05" / "chb05_06.edf")]) == 0
    out = capsys.readouterr().out
    assert "chbmit:chb05-summary.txt" in out and "417.000" in out


def test_info_unknown_text_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    assert main(["info", str(tmp_path / "notes.txt")]) == 1
    assert "summary.txt" in capsys.readouterr().err


def test_events_tsv_labels_and_edf_label_case(tmp_path):
    from eegssm.data.synthetic import make_recording
    from eegssm.io import Event, read_recording
    from eegssm.io.annotations import write_edf

    rec = make_recording(20.0, n_seizures=0, seed=3)
    write_edf(tmp_path / "t.edf", rec, [Event(1.0, 2.0, "T0"), Event(3.0, 4.0, "Eyes Open")])
    assert [e.label for e in read_recording(tmp_path / "t.edf").events] == ["T0", "Eyes Open"]
    assert np.isfinite(rec.data).all()
