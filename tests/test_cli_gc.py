"""The command line pauses Python's cyclic garbage collector while it starts (eegssm.cli)."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from eegssm import cli


@pytest.fixture
def collector():
    """Leaves the collector as it found it (enabled, nothing frozen by the test)."""
    was = gc.isenabled()
    yield
    cli._gc_paused = False
    gc.unfreeze()
    gc.enable() if was else gc.disable()


def test_pause_then_resume(collector):
    gc.enable()
    cli.pause_gc()
    assert not gc.isenabled()
    before = gc.get_freeze_count()
    cli.resume_gc()
    assert gc.isenabled() and gc.get_freeze_count() > before  # start-up's objects frozen
    gc.disable()
    cli.resume_gc()  # a second resume does nothing
    assert not gc.isenabled()


def test_a_collector_the_user_turned_off_stays_off(collector):
    gc.disable()
    cli.pause_gc()
    cli.resume_gc()
    assert not gc.isenabled()


def test_main_resumes_it_before_an_ordinary_command(collector, monkeypatch, capsys):
    from eegssm.commands import info

    seen = []
    monkeypatch.setattr(info, "run", lambda args: seen.append(gc.isenabled()) or 0)
    gc.enable()
    cli.pause_gc()
    assert cli.main(["info", "x.edf"]) == 0
    assert seen == [True]


def test_the_console_entry_point_pauses_it_and_resumes_it():
    code = (
        "import gc, eegssm.cli as cli\n"
        "def fake_main():\n"
        "    print(gc.isenabled())\n"
        "    cli.resume_gc()\n"
        "    print(gc.isenabled())\n"
        "    return 0\n"
        "cli.main = fake_main\n"
        "cli.run()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
