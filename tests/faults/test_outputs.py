"""Output names and text formats (cases 5 and 11 of issue 20).

Two inputs with the same stem in different folders overwrote each other's outputs; a newline in
a file name broke the csv_bi header so that the project could not read its own output. Outputs
stay flat (``OUT/<stem>.*``); only colliding stems get a folder suffix, listed in the summary,
and names are made safe (or refused) in every text format.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eegssm.cli import main
from eegssm.data.synthetic import make_recording
from eegssm.io.annotations import read_csv_bi, write_bids_events, write_csv_bi, write_edf
from eegssm.io.types import Event

pytestmark = pytest.mark.timeout(600)


def _edf(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_edf(path, make_recording(30, n_seizures=0, seed=seed))


@pytest.mark.faults
def test_same_stem_in_two_folders_gets_two_sets_of_outputs(tmp_path, capsys):
    """Case 5: the second ``rec.edf`` silently overwrote the first one's outputs."""
    a = _edf(tmp_path / "in" / "patientA" / "rec.edf", 1)
    b = _edf(tmp_path / "in" / "patientB" / "rec.edf", 2)
    c = _edf(tmp_path / "in" / "patientB" / "other.edf", 3)
    out = tmp_path / "out"
    assert main(["detect", str(tmp_path / "in"), "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr().out
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        f"{stem}{ext}"
        for stem in ("rec_patientA", "rec_patientB", "other")
        for ext in (".csv_bi", "_events.tsv", ".json")
    )
    for stem, source in (("rec_patientA", a), ("rec_patientB", b), ("other", c)):
        assert json.loads((out / f"{stem}.json").read_text())["file"] == str(source)
        assert read_csv_bi(out / f"{stem}.csv_bi").bname == stem
    assert f"{a}" in printed and "rec_patientA.*" in printed and "other.*" not in printed


def test_output_stems_rules():
    from eegssm.data.discovery import output_stems

    paths = [Path("x/a/rec.edf"), Path("y/a/REC.edf"), Path("z/b/one.edf"), Path("t/b/tab\tx.edf")]
    stems = output_stems(paths)
    assert stems[Path("z/b/one.edf")] == "one" and stems[Path("t/b/tab\tx.edf")] == "tab_x"
    # same folder name too: a short hash of the folder; case-insensitive file systems collide
    assert stems[Path("x/a/rec.edf")] != stems[Path("y/a/REC.edf")]
    assert all(s.lower().startswith("rec_") for p, s in stems.items() if p.stem.lower() == "rec")


@pytest.mark.faults
def test_newline_in_a_file_name_gives_readable_outputs(tmp_path):
    """Case 11: ``bad\\nname.edf`` broke the csv_bi header (``# bname = bad`` then ``name``)."""
    _edf(tmp_path / "in" / "bad\nname.edf", 4)
    out = tmp_path / "out"
    assert main(["detect", str(tmp_path / "in"), "--out", str(out), "-q"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "bad_name.csv_bi", "bad_name.json", "bad_name_events.tsv"
    ]  # fmt: skip
    assert read_csv_bi(out / "bad_name.csv_bi").bname == "bad_name"
    assert main(["score", str(out), str(out), "--method", "overlap"]) == 0


def test_writers_refuse_what_would_break_the_format(tmp_path):
    ev = Event(1.0, 2.0, "seiz")
    with pytest.raises(ValueError, match="control character"):
        write_csv_bi(tmp_path / "a.csv_bi", [ev], 10.0, bname="two\nlines")
    with pytest.raises(ValueError, match="comma or control character"):
        write_csv_bi(tmp_path / "a.csv_bi", [Event(1.0, 2.0, "seiz,bckg")], 10.0)
    with pytest.raises(ValueError, match="tab, newline"):
        write_bids_events(tmp_path / "a_events.tsv", [Event(1.0, 2.0, "seiz", "Fp1\tF3")], 10.0)
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary
