"""Make ``docs/report.png``: the review page of ``eegssm demo`` at its first detected seizure.

Runs the demo (bundled detector on the seeded synthetic recording), writes its review page, opens
it in headless Chromium through Playwright (the installed browser, by path: nothing downloaded),
shows the 10 s page of the first detection and saves a 48-colour PNG of the window.

``python scripts/report_screenshot.py [--chromium /usr/bin/chromium] [--out docs/report.png]``
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    args = parser.parse_args()

    from PIL import Image
    from playwright.sync_api import sync_playwright

    from eegssm.commands.detect import DEMO_DURATION_S, DEMO_SEED
    from eegssm.data.synthetic import make_recording
    from eegssm.detection import Detector
    from eegssm.io.annotations import is_seizure
    from eegssm.report.html import write_report

    detector = Detector.from_checkpoint()
    rec = make_recording(DEMO_DURATION_S, sfreq=256.0, n_seizures=2, seed=DEMO_SEED)
    rec.meta["source"] = f"synthetic-demo-seed{DEMO_SEED}"
    truth = [e for e in rec.events if is_seizure(e.label)]
    result = detector.run(rec)
    with tempfile.TemporaryDirectory() as tmp:
        page_path = write_report(
            Path(tmp) / "demo_report.html", result.recording, result.probs,
            result.recording.sfreq, result.events, truth,
            threshold=result.postprocess.on_threshold, model_name=detector.name, raw=rec,
        )  # fmt: skip
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(Path(tmp) / "profile"), executable_path=args.chromium, headless=True,
                args=ARGS, viewport={"width": 1200, "height": 780},
            )  # fmt: skip
            page = context.new_page()
            page.goto(page_path.as_uri())
            page.wait_for_function("Number(document.body.dataset.drawn) >= 1")
            if result.events:
                page.locator("#events tr.event").nth(0).click()
            page.wait_for_timeout(300)
            page.evaluate("window.scrollTo(0, 0)")
            shot = page.screenshot()
            context.close()
    image = Image.open(io.BytesIO(shot)).convert("RGB").quantize(48)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
