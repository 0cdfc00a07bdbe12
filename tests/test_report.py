"""The self-contained HTML report: content, no external resources, and (when Chromium is
installed) that a browser renders it with the events visible."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from eegssm.data.synthetic import make_recording
from eegssm.io.types import Event
from eegssm.report.html import render_report, write_report


@pytest.fixture(scope="module")
def case():
    rec = make_recording(240.0, sfreq=128.0, n_seizures=1, seed=3, seizure_duration_s=(20, 40))
    ref = [e for e in rec.events if e.label == "seiz"]
    false_alarm = Event(ref[0].stop + 10.0, ref[0].stop + 14.0, confidence=0.5)
    if false_alarm.stop > rec.duration:
        false_alarm = Event(ref[0].start - 14.0, ref[0].start - 10.0, confidence=0.5)
    assert 0 <= false_alarm.start and false_alarm.stop <= rec.duration
    probs = np.zeros(rec.n_times, np.float32)
    detected = [Event(ref[0].start + 1.0, ref[0].stop, confidence=0.93), false_alarm]
    for e in detected:
        probs[int(e.start * rec.sfreq) : int(e.stop * rec.sfreq)] = e.confidence
    return rec, probs, detected, ref


def test_report_content(case, tmp_path):
    rec, probs, detected, ref = case
    path = write_report(
        tmp_path / "r.html", rec, probs, rec.sfreq, detected, ref, threshold=0.8, model_name="m"
    )
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<tr><td class='num'>") == 2  # two event rows
    assert "class='hit'>yes" in text and "class='fa'>no" in text
    assert len(re.findall(r"src='data:image/png;base64,", text)) == 1 + len(detected)
    assert not re.search(r"(src|href)=['\"]https?://", text)  # self-contained
    for name in rec.ch_names[:3]:
        assert name in text


def test_report_without_events_or_annotations(case):
    rec, probs, _, _ = case
    text = render_report(rec, probs * 0, rec.sfreq, [], None)
    assert "No seizure events detected." in text
    assert "no annotations" in text


@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")),
    reason="Chromium not installed (Debian: apt-get install chromium)",
)
def test_report_renders_in_headless_chromium(case, tmp_path):
    rec, probs, detected, ref = case
    path = write_report(tmp_path / "r.html", rec, probs, rec.sfreq, detected, ref, threshold=0.8)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert 'id="events"' in dom and dom.count('class="traces"') == len(detected)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", "--window-size=1200,1600", path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a real, non-blank page
