"""The review page in a real browser: headless Chromium driven by Playwright.

Skipped when Chromium (``/usr/bin/chromium``, or ``EEGSSM_CHROMIUM``) or the ``playwright``
package is missing; ``make test-browser`` sets ``EEGSSM_REQUIRE_BROWSER=1`` so that they fail
instead. Playwright never downloads a browser here: it launches the installed Chromium by path.
``EEGSSM_REPORT_SCREENSHOT=path.png`` keeps the screenshot (``docs/report.png`` is made so).
"""

from __future__ import annotations

import io
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from eegssm.data.synthetic import make_recording
from eegssm.io.types import Event, Recording
from eegssm.report import display
from eegssm.report.html import page_data, write_report

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    path = os.environ.get("EEGSSM_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if Path(path).is_file() else None


def _unavailable(reason: str):
    if os.environ.get("EEGSSM_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " (EEGSSM_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    chromium = _chromium()
    if chromium is None:
        _unavailable("Chromium not installed (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright not installed (pip install playwright; no browser download)")
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=chromium,
            headless=True,
            args=ARGS,
            viewport={"width": 1400, "height": 900},
        )
        yield context
        context.close()


class Page:
    """One review page open in the browser, with what it logged and asked for."""

    def __init__(self, context, path: Path) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page = context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.errors.append("failed: " + r.url))

        def route(r):
            self.requests.append(r.request.url)
            return r.continue_() if r.request.url.startswith("file:") else r.abort()

        self.page.route("**/*", route)
        self.page.goto(path.as_uri())
        self.page.wait_for_function("Number(document.body.dataset.drawn) >= 1", timeout=15000)

    def state(self) -> dict:
        return self.page.evaluate("Object.assign({}, document.body.dataset)")

    def act(self, action) -> dict:
        """Run ``action()`` and wait until the page has drawn again."""
        before = int(self.state()["drawn"])
        action()
        self.page.wait_for_function(
            f"Number(document.body.dataset.drawn) > {before}", timeout=10000
        )
        self.page.wait_for_timeout(50)  # let a second queued draw finish
        return self.state()

    def canvas(self) -> str:
        return self.page.evaluate("document.getElementById('eeg').toDataURL()")

    def text(self, selector: str) -> str:
        return self.page.inner_text(selector)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    rec = make_recording(240.0, sfreq=256.0, n_seizures=1, seed=3, seizure_duration_s=(20, 40))
    rec.meta["start_time"] = "2024-03-05T14:02:50"
    ref = [e for e in rec.events if e.label == "seiz"]
    detected = [Event(ref[0].start + 1.0, ref[0].stop, confidence=0.93), Event(150, 154, 0.5)]
    detected = sorted(detected, key=lambda e: e.start)
    probs = np.zeros(rec.n_times, np.float32)
    for e in detected:
        probs[int(e.start * 256) : int(e.stop * 256)] = e.confidence
    path = write_report(
        tmp_path_factory.mktemp("report") / "review.html", rec, probs, 256.0, detected, ref,
        threshold=0.8, model_name="fast", raw=rec,
    )  # fmt: skip
    return path, rec, detected, ref


def test_page_loads_offline_and_pages_with_the_keyboard(browser, case):
    path, rec, _, _ = case
    page = Page(browser, path)
    assert page.state()["page"] == "0" and page.state()["montage"] == "db"
    assert page.text("#page-count") == str(math.ceil(rec.duration / 10))
    first_time = page.text("#page-time")
    assert first_time.startswith("00:00:00 – 00:00:10") and "clock 14:02:50" in first_time
    state = page.act(lambda: page.page.keyboard.press("ArrowRight"))
    assert state["page"] == "1" and state["t0"] == "10"
    assert page.text("#page-time").startswith("00:00:10 – 00:00:20")
    assert page.page.input_value("#page-input") == "2"
    assert page.act(lambda: page.page.keyboard.press("ArrowLeft"))["page"] == "0"
    assert page.act(lambda: page.page.keyboard.press("End"))["page"] == "23"
    assert page.act(lambda: page.page.keyboard.press("ArrowRight"))["page"] == "23"  # the end
    assert page.act(lambda: page.page.click("#first"))["page"] == "0"
    assert page.act(lambda: page.page.click("#next"))["page"] == "1"
    assert page.act(lambda: page.page.fill("#page-input", "7") or page.page.press(
        "#page-input", "Enter"))["page"] == "6"  # fmt: skip
    assert page.errors == []
    assert page.requests and all(u.startswith("file:") for u in page.requests)  # no network


def test_event_rows_and_overview_jump_to_their_page(browser, case):
    path, rec, detected, _ = case
    page = Page(browser, path)
    rows = page.page.locator("#events tr.event")
    assert rows.count() == len(detected)
    for i, e in enumerate(detected):
        state = page.act(lambda i=i: rows.nth(i).click())
        # the onset 30 % into the page (on a whole second), so its lead-in shows
        assert float(state["t0"]) == max(0, math.floor(e.start - 3))
        assert int(state["page"]) == int(float(state["t0"]) // 10)
        assert "current" in (rows.nth(i).get_attribute("class") or "")
    state = page.act(lambda: page.page.click("#first"))
    state = page.act(lambda: page.page.keyboard.press("n"))  # next event
    assert float(state["t0"]) == math.floor(detected[0].start - 3)
    state = page.act(lambda: page.page.keyboard.press("n"))
    assert float(state["t0"]) == math.floor(detected[1].start - 3)
    state = page.act(lambda: page.page.keyboard.press("p"))
    assert float(state["t0"]) == math.floor(detected[0].start - 3)
    # the overview strip: a click three quarters along centres the page there
    box = page.page.locator("#overview").bounding_box()
    x = 86 + 0.75 * (box["width"] - 86 - 10)
    state = page.act(lambda: page.page.mouse.click(box["x"] + x, box["y"] + 25))
    assert abs(float(state["t0"]) + 5 - 0.75 * rec.duration) <= 1.5
    assert page.errors == []


def test_montage_and_sensitivity_redraw(browser, case):
    path, rec, _, _ = case
    page = Page(browser, path)
    labels = page.page.evaluate("eegReview.rowLabels()")
    assert labels[:2] == ["Fp1-F7", "F7-T3"] and len(labels) == 18
    before = page.canvas()
    state = page.act(lambda: page.page.select_option("#montage", label="Referential"))
    assert state["montage"] == "ref"
    assert page.page.evaluate("eegReview.rowLabels()")[:3] == ["Fp1", "Fp2", "F7"]
    referential = page.canvas()
    assert referential != before
    state = page.act(lambda: page.page.select_option("#sensitivity", label="30 µV/mm"))
    assert state["sensitivity"] == "30" and page.canvas() != referential
    state = page.act(lambda: page.page.keyboard.press("ArrowUp"))  # more sensitive
    assert state["sensitivity"] == "20"
    state = page.act(lambda: page.page.select_option("#page-length", label="20 s"))
    assert state["pageLength"] == "20" and page.text("#page-count") == "12"
    assert page.errors == []


def test_browser_decodes_the_stored_signal(browser, case):
    """What the page draws is the display signal computed in Python (to the stored step)."""
    path, rec, _, _ = case
    page = Page(browser, path)
    data = page_data(path.read_text())
    eeg, rows = data["eeg"], data["montages"][0]["rows"]
    b = eeg["block_samples"]
    j0, j1 = b - 300, b + 300  # across a block boundary
    stored = (
        np.concatenate(
            [display.decode_int16(eeg["blocks"][k], eeg["n_channels"]) for k in (0, 1)], axis=1
        )[:, j0:j1]
        * eeg["lsb"]
    )
    for r in (0, 7, 17):
        expected = sum(w * stored[ch] for ch, w in rows[r]["terms"])
        got = np.array(page.page.evaluate(f"eegReview.values({r}, {j0}, {j1})"))
        np.testing.assert_allclose(got, expected, atol=1e-3)
    # and the page joins blocks without a seam: the Python signal, whole
    plan = display.plan_channels(rec.ch_names)
    rate = display.display_rate(rec.sfreq)
    whole = display.render_span(lambda a, c: rec.data[plan.picks, a:c], rec.n_times, rate, j0, j1)
    np.testing.assert_allclose(stored, whole, atol=eeg["lsb"] / 2 + 1e-3)


def test_screenshot_reads_as_an_eeg_page(browser, case, tmp_path):
    from PIL import Image

    path, _, detected, _ = case
    page = Page(browser, path)
    page.act(lambda: page.page.select_option("#page-length", label="20 s"))
    page.act(lambda: page.page.locator("#events tr.event").nth(0).click())
    page.page.evaluate("window.scrollTo(0, 0)")
    shot = page.page.screenshot()
    keep = os.environ.get("EEGSSM_REPORT_SCREENSHOT")
    if keep:
        Path(keep).write_bytes(shot)
    (tmp_path / "review.png").write_bytes(shot)
    image = np.asarray(Image.open(io.BytesIO(shot)).convert("RGB")).astype(int)
    box = page.page.locator("#eeg").bounding_box()
    left, right = int(box["x"]) + 86, int(box["x"] + box["width"]) - 10  # the trace area
    eeg = image[int(box["y"]) + 30 : int(box["y"] + box["height"]) - 30, left:right]
    dark = (eeg.sum(axis=2) < 200).mean()
    assert 0.02 < dark < 0.5  # traces drawn, not a blank or black canvas
    # the detected event is shaded from its onset, 6 s into this 20 s page, on
    t0 = float(page.state()["t0"])
    onset = int((detected[0].start - t0) / 20 * (right - left))
    red = (eeg[..., 0] > eeg[..., 2] + 8).mean(axis=0)  # per column
    assert red[: onset - 5].mean() < 0.02 and red[onset + 5 :].mean() > 0.3
    assert page.errors == []


def test_pages_without_stored_eeg_say_so(browser, tmp_path):
    names = "Fp1 Fp2 F7 F3 Fz F4 F8 T3 C3 Cz C4 T4 T5 P3 Pz P4 T6 O1 O2".split()
    noise = np.random.default_rng(5).standard_normal((19, 1800 * 128)).astype(np.float32)
    rec = Recording(10 * noise, 128.0, names)
    ref = [Event(1500.0, 1530.0)]
    probs = np.zeros(1800, np.float32)
    path = write_report(
        tmp_path / "capped.html", rec, probs, 1.0, [], ref, raw=rec, max_eeg_hours=0.1
    )
    page = Page(browser, path)
    stored = page_data(path.read_text())["eeg"]["blocks"]
    missing = next(k for k, b in enumerate(stored) if b is None)
    state = page.act(lambda: page.page.evaluate(f"eegReview.goto({missing * 6})"))
    assert state["stored"] == "false"
    state = page.act(lambda: page.page.evaluate(f"eegReview.goto({int(ref[0].start // 10)})"))
    assert state["stored"] == "true"
    assert page.errors == []
