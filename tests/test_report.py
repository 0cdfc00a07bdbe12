"""The review page's data (montages, display signal, encoding, cap) and its HTML, without a browser
(the browser tests are in ``test_report_browser.py``)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import signal

from eegssm.data.synthetic import make_recording
from eegssm.io.types import Event, Recording
from eegssm.preprocessing.blockwise import LazySignal
from eegssm.report import display
from eegssm.report.html import page_data, render_report, write_report

DB_STANDARD = [
    "Fp1-F7", "F7-T3", "T3-T5", "T5-O1", "Fp2-F8", "F8-T4", "T4-T6", "T6-O2",
    "Fp1-F3", "F3-C3", "C3-P3", "P3-O1", "Fp2-F4", "F4-C4", "C4-P4", "P4-O2", "Fz-Cz", "Cz-Pz",
]  # fmt: skip
REF_STANDARD = "Fp1 Fp2 F7 F3 Fz F4 F8 T3 C3 Cz C4 T4 T5 P3 Pz P4 T6 O1 O2".split()


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


# ---- montages ------------------------------------------------------------------------------------


def test_plan_referential_recording_in_standard_order():
    # a TUSZ-style file with 10-10 names, shuffled, plus a non-EEG channel
    names = ["EEG " + n.replace("T3", "T7").replace("T5", "P7") + "-REF" for n in REF_STANDARD]
    rng = np.random.default_rng(0)
    names = [names[i] for i in rng.permutation(len(names))] + ["EKG1"]
    plan = display.plan_channels(names)
    keys = [m["key"] for m in plan.montages]
    assert keys == ["db", "ref", "avg"]
    db, ref, avg = plan.montages
    expected = [d.replace("T3", "T7").replace("T5", "P7") for d in DB_STANDARD]
    assert [r["label"] for r in db["rows"]] == expected and db["missing"] == []
    assert [r["label"] for r in ref["rows"]] == [
        n.replace("T3", "T7").replace("T5", "P7") for n in REF_STANDARD
    ]
    assert len(plan.picks) == 19 and "EKG1" not in [names[i] for i in plan.picks]
    # each bipolar row is anode minus cathode of the stored referential channels
    stored = [names[i] for i in plan.picks]
    for row in db["rows"]:
        (a, wa), (c, wc) = row["terms"]
        anode, cathode = row["label"].split("-")
        assert (wa, wc) == (1.0, -1.0)
        assert stored[a] == f"EEG {anode}-REF" and stored[c] == f"EEG {cathode}-REF"
    for row in avg["rows"]:
        assert sum(w for _, w in row["terms"]) == pytest.approx(0.0, abs=1e-12)


def test_plan_bipolar_recording_uses_its_derivations():
    from eegssm.preprocessing.montages import CHBMIT_NAMES_23

    names = list(CHBMIT_NAMES_23)
    names[14], names[22] = "T8-P8-0", "T8-P8-1"  # as mne names CHB-MIT's duplicate
    names[0] = "F7-FP1"  # stored reversed: the page negates it
    plan = display.plan_channels(names)
    assert [m["key"] for m in plan.montages] == ["db"]  # no referential electrodes
    rows = plan.montages[0]["rows"]
    assert len(rows) == 18 and plan.montages[0]["missing"] == []
    assert rows[0] == {"label": "Fp1-F7", "terms": [[0, -1.0]], "group": 0}
    assert [r["label"] for r in rows][1:] == [
        "F7-T7", "T7-P7", "P7-O1", "Fp2-F8", "F8-T8", "T8-P8", "P8-O2", "Fp1-F3", "F3-C3",
        "C3-P3", "P3-O1", "Fp2-F4", "F4-C4", "C4-P4", "P4-O2", "Fz-Cz", "Cz-Pz",
    ]  # fmt: skip
    stored = [names[i] for i in plan.picks]
    assert "T8-P8-1" not in stored and "FT9-FT10" not in stored and len(stored) == 18


def test_plan_partial_and_unrecognised_channels():
    plan = display.plan_channels(["Fp1", "F7", "T3", "O1", "Cz"])
    db = plan.montages[0]
    assert [r["label"] for r in db["rows"]] == ["Fp1-F7", "F7-T3"]
    assert "T3-T5" in db["missing"] and "Fz-Cz" in db["missing"]
    assert [r["label"] for r in plan.montages[1]["rows"]] == ["Fp1", "F7", "T3", "Cz", "O1"]
    other = display.plan_channels(["LFP1", "LFP2", "ECoG 3"])
    assert [m["key"] for m in other.montages] == ["raw"]
    assert [r["label"] for r in other.montages[0]["rows"]] == ["LFP1", "LFP2", "ECoG 3"]


# ---- display signal ------------------------------------------------------------------------------


def _eeg_like(n_channels: int, n_times: int, sfreq: float, seed: int) -> np.ndarray:
    """Brown-ish noise + alpha + 50/60 Hz mains + a DC offset, µV."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_times) / sfreq
    x = np.cumsum(rng.standard_normal((n_channels, n_times)), axis=1) * 2.0
    x += 20 * np.sin(2 * np.pi * 10 * t) + 200.0
    x += 30 * np.sin(2 * np.pi * 50 * t) + 10 * np.sin(2 * np.pi * 60 * t)
    return x.astype(np.float32)


@pytest.mark.parametrize("sfreq", [500.0, 256.0, 173.61, 100.0])
def test_render_span_equals_processing_the_whole_record(sfreq):
    n_times = int(200 * sfreq) + 7  # an awkward length
    x = _eeg_like(3, n_times, sfreq, seed=int(sfreq))
    rate = display.display_rate(sfreq)
    sos = display.display_sos(rate.sfreq)
    whole = x if rate.up == rate.down else signal.resample_poly(x, rate.up, rate.down, axis=-1)
    whole = signal.sosfiltfilt(sos, whole.astype(np.float64), axis=-1)  # the obvious reference
    n_out = rate.n_out(n_times)
    assert whole.shape[1] == n_out
    for j0, j1 in [(0, 50), (0, 7680), (7680, 7680 + 7680), (n_out - 100, n_out), (1234, 5678)]:
        j1 = min(j1, n_out)
        part = display.render_span(lambda a, b: x[:, a:b], n_times, rate, j0, j1, sos)
        assert part.shape == (3, j1 - j0)
        # pages meet without seams: the whole-record result to float32 round-off (8e-4 µV
        # measured; the stored step is 0.5 µV)
        np.testing.assert_allclose(part, whole[:, j0:j1], atol=0.005)
    # mains and DC are gone, alpha stays
    spectrum = np.abs(np.fft.rfft(whole[0, 1000:-1000]))
    f = np.fft.rfftfreq(whole.shape[1] - 2000, 1 / rate.sfreq)
    alpha = spectrum[np.argmin(np.abs(f - 10))]
    for mains in (50, 60):
        if mains < rate.sfreq / 2 - 1:
            assert spectrum[np.argmin(np.abs(f - mains))] < 0.01 * alpha
    assert abs(whole[:, 1000:-1000].mean()) < 2.0


def test_display_rate():
    assert display.display_rate(500).sfreq == 128.0 and display.display_rate(256).down == 2
    assert display.display_rate(100).sfreq == 100.0  # never upsampled
    assert display.display_rate(173.61).sfreq == pytest.approx(128.0, rel=1e-3)


def test_int16_encoding_round_trips_with_wrapping():
    rng = np.random.default_rng(1)
    q = rng.integers(-32768, 32768, size=(4, 1001)).astype(np.int16)
    q[:, :4] = [[32767, -32768, 32767, 0]] * 4  # differences that wrap
    np.testing.assert_array_equal(display.decode_int16(display.encode_int16(q), 4), q)
    assert display.quantise(np.array([0.74, -0.76, 1e9, -1e9, np.nan]), 0.5).tolist() == [
        1, -2, 32767, -32768, 0,
    ]  # fmt: skip


@pytest.mark.parametrize(("sfreq", "rate"), [(256.0, 10.0), (100.0, 10.0), (173.61, 10.0), (4, 10)])
def test_max_pool_against_a_loop(sfreq, rate):
    rng = np.random.default_rng(2)
    x = rng.random(int(37 * sfreq) + 3).astype(np.float32) * 0.1
    x[len(x) // 3] = 0.97  # a one-sample peak stays visible
    peaks, got_rate = display.max_pool(x, sfreq, rate)
    assert got_rate == min(rate, sfreq)
    ref = []
    k = 0
    while True:
        a = int(np.floor(k * sfreq / got_rate + 1e-9))
        if a >= len(x):
            break
        b = int(np.floor((k + 1) * sfreq / got_rate + 1e-9))
        ref.append(x[a : max(b, a + 1)].max())
        k += 1
    np.testing.assert_array_equal(peaks, np.array(ref, np.float32))
    assert peaks.max() == pytest.approx(0.97)


def test_choose_blocks_under_a_cap():
    assert display.choose_blocks(3600.0, 19, [], max_eeg_hours=1.0) == list(range(60))
    # 24 h, cap 1 h of 19 channels = 60 blocks; two events get their context first
    events = [(5000.0, 5030.0), (80000.0, 80200.0)]
    chosen = display.choose_blocks(86400.0, 19, events, max_eeg_hours=1.0)
    assert len(chosen) == 60 and chosen == sorted(chosen)
    for start, stop in events:
        for k in range(int((start - 60) // 60), int((stop + 60) // 60) + 1):
            assert k in chosen
    assert 0 in chosen  # the rest of the budget from the start
    # 38 channels halve the budget
    assert len(display.choose_blocks(86400.0, 38, events, max_eeg_hours=1.0)) == 30
    assert display.stored_spans([0, 1, 2, 5], 330.0) == [[0.0, 180.0], [300.0, 330.0]]
    assert display.runs([0, 1, 2, 5, 6], longest=2) == [(0, 2), (2, 3), (5, 7)]


# ---- the page ------------------------------------------------------------------------------------


def test_report_content(case, tmp_path):
    rec, probs, detected, ref = case
    path = write_report(
        tmp_path / "r.html", rec, probs, rec.sfreq, detected, ref, threshold=0.8, model_name="m",
        raw=rec,
    )  # fmt: skip
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<tr class='event' tabindex='0' data-index=") == 2  # two detected rows
    assert "class='hit'>yes" in text and "class='fa'>no" in text
    # self-contained: nothing fetched from anywhere
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)
    assert "<script src" not in text and "@import" not in text and "fetch(" not in text
    assert "<link rel='stylesheet'" not in text
    for name in rec.ch_names[:3]:
        assert name in text
    data = page_data(text)
    assert [m["key"] for m in data["montages"]] == ["db", "ref", "avg"]
    assert data["unit"] == "µV" and data["sensitivity"] == 7 and data["page_s"] == 10
    eeg = data["eeg"]
    assert eeg["all_stored"] and all(b is not None for b in eeg["blocks"])
    assert eeg["n_samples"] == rec.n_times  # 128 Hz: kept as is
    assert len(eeg["blocks"]) == 4 and eeg["stored"] == [[0.0, 240.0]]
    # the stored samples are the display-filtered signal, quantised
    plan = display.plan_channels(rec.ch_names)
    rate = display.display_rate(rec.sfreq)
    b = eeg["block_samples"]
    expected = display.render_span(
        lambda a, c: rec.data[plan.picks, a:c], rec.n_times, rate, b, 2 * b
    )
    got = display.decode_int16(eeg["blocks"][1], eeg["n_channels"]) * eeg["lsb"]
    assert np.abs(got - expected).max() <= eeg["lsb"] / 2 + 1e-4
    # the probability, max-pooled to 0.1 s
    assert data["prob"]["rate"] == 10.0 and data["prob"]["n"] == 2400
    assert [e["overlaps"] for e in data["events"]] == [True, False]
    assert data["prob"]["threshold"] == 0.8


def test_report_without_events_or_annotations(case):
    rec, probs, _, _ = case
    text = render_report(rec, probs * 0, rec.sfreq, [], None)
    assert "No seizure events detected." in text
    assert "no annotations" in text
    assert page_data(text)["reference"] == []


def test_report_of_a_normalised_recording_is_in_sd(case):
    from eegssm.preprocessing import preprocess

    rec, probs, detected, ref = case
    pre = preprocess(rec, "seizure")
    data = page_data(render_report(pre, probs, pre.sfreq, detected, ref))
    assert data["unit"] == "SD" and data["eeg"]["lsb"] == display.LSB_Z
    assert data["sensitivity"] in data["sensitivities"]


def test_long_record_is_capped_around_events(tmp_path):
    sfreq, hours = 64.0, 2.0
    n_times = int(hours * 3600 * sfreq)
    names = ["Fp1", "F7", "T3", "T5", "O1"]
    reads = []

    def read(a, b):  # a lazily generated recording: never held whole
        reads.append((a, b))
        t = np.arange(a, b) / sfreq
        return np.tile(np.float32(10) * np.sin(2 * np.pi * 7 * t), (len(names), 1))

    rec = Recording(LazySignal(read, (len(names), n_times)), sfreq, names)  # type: ignore[arg-type]
    events = [Event(3000.0, 3040.0, confidence=0.9)]
    probs = np.zeros(n_times // 64, np.float32)  # 1 Hz probabilities
    text = render_report(rec, probs, 1.0, events, [], raw=rec, max_eeg_hours=0.1)
    eeg = page_data(text)["eeg"]
    budget = int(0.1 * 3600 * 19 / 5 / 60)  # 22 blocks of 5 channels
    stored = [k for k, b in enumerate(eeg["blocks"]) if b is not None]
    assert not eeg["all_stored"] and len(stored) == budget == 22
    assert {49, 50, 51} <= set(stored)  # 2940-3100 s: the event with 60 s either side
    assert max(b - a for a, b in reads) < 11 * 60 * sfreq  # read in stretches, not whole
    assert "EEG stored in this page" in text and "h of 2.00 h" in text


def test_report_of_an_empty_or_tiny_recording(case):
    rec, _, _, _ = case
    for n in (0, 1, 5):
        tiny = rec.copy_with(data=rec.data[:, :n])
        data = page_data(render_report(tiny, np.zeros(n), rec.sfreq, [], None, raw=tiny))
        assert data["eeg"]["n_samples"] == n and data["duration"] == n / rec.sfreq


def test_report_escapes_names(case):
    rec, probs, detected, ref = case
    evil = rec.copy_with(meta={"source": "</script><script>alert(1)</script>.edf"})
    text = render_report(evil, probs, rec.sfreq, detected, ref, raw=evil)
    assert "<script>alert(1)" not in text and "&lt;/script&gt;&lt;script&gt;alert(1)" in text
    assert page_data(text)["title"] == "script>.edf"  # the file name of that path


def test_detect_report_shows_the_file_in_microvolts(tmp_path, capsys):
    """`eegssm detect FILE --report` draws the file as read (µV, TUSZ labels), not the model
    input."""
    from eegssm.cli import main
    from eegssm.data.synthetic import write_synthetic
    from eegssm.io import read_recording

    edf, _ = write_synthetic(
        tmp_path / "rec", 60.0, 256.0, n_seizures=1, seed=4, tusz_labels=True,
        seizure_duration_s=(10, 20),
    )  # fmt: skip
    page = tmp_path / "page.html"
    code = main(["detect", str(edf), "--out", str(tmp_path / "out"), "-q", "--report", str(page)])
    assert code == 0 and f"report: {page}" in capsys.readouterr().out
    data = page_data(page.read_text())
    assert data["unit"] == "µV" and data["montages"][0]["rows"][0]["label"] == "Fp1-F7"
    assert data["reference"] and data["eeg"]["all_stored"]
    raw = read_recording(edf)
    plan = display.plan_channels(raw.ch_names)
    rate = display.display_rate(raw.sfreq)
    eeg = data["eeg"]
    expected = display.render_span(
        lambda a, b: raw.data[plan.picks, a:b], raw.n_times, rate, 0, eeg["block_samples"]
    )
    got = display.decode_int16(eeg["blocks"][0], eeg["n_channels"]) * eeg["lsb"]
    assert np.abs(got - expected).max() <= eeg["lsb"] / 2 + 1e-3
    assert np.abs(expected).std() > 5.0  # µV-sized, not a z-score
