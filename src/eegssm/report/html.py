"""A self-contained HTML report of one recording's seizure detections.

One file, no network needed to open it: figures are PNGs embedded as base64 data URIs and the
styles are inline. Sections:

1. summary (file, duration, channels, rate, model, threshold, counts);
2. overview: seizure probability over the whole recording, the threshold, detected events
   (red) and reference events (green, when annotations exist);
3. the event table (onset, offset, duration, confidence, whether it overlaps a reference event);
4. per event, the EEG traces around its onset in the clinical page layout (all channels stacked,
   ``page_s`` seconds per page, default 10 s), the event span highlighted.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eegssm.io.types import Event, Recording

MAX_EVENT_PAGES = 25


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _clock(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:05.2f}"


def _overlaps(event: Event, others: Sequence[Event]) -> bool:
    return any(event.start < o.stop and o.start < event.stop for o in others)


def overview_figure(
    probs: np.ndarray,
    sfreq: float,
    events: Sequence[Event],
    reference: Sequence[Event],
    threshold: float | None,
    max_points: int = 4000,
) -> str:
    """PNG data URI: probability trace (max per bin, so short peaks stay visible) with events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(probs)
    duration = n / sfreq
    bins = max(1, int(np.ceil(n / max_points)))
    usable = (n // bins) * bins
    peak = probs[:usable].reshape(-1, bins).max(axis=1) if usable else probs
    if usable < n:
        peak = np.append(peak, probs[usable:].max())
    t = np.arange(len(peak)) * bins / sfreq
    fig, ax = plt.subplots(figsize=(12, 2.6))
    ax.plot(t, peak, color="#1f4e79", lw=0.8, label="seizure probability")
    for e in events:
        ax.axvspan(e.start, e.stop, color="#d62728", alpha=0.25, lw=0)
    for e in reference:
        ax.plot([e.start, e.stop], [-0.06, -0.06], color="#2ca02c", lw=5, solid_capstyle="butt")
    if threshold is not None:
        ax.axhline(threshold, color="#d62728", ls="--", lw=0.8, label=f"threshold {threshold:.2f}")
    ax.set_xlim(0, max(duration, 1e-3))
    ax.set_ylim(-0.1, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("p(seizure)")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def traces_figure(
    recording: Recording,
    start_s: float,
    page_s: float,
    highlight: tuple[float, float],
    reference: Sequence[Event] = (),
) -> str:
    """PNG data URI: one clinical page of all channels, stacked, with the event span shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sf = recording.sfreq
    a = max(0, int(round(start_s * sf)))
    b = min(recording.n_times, a + int(round(page_s * sf)))
    seg = recording.data[:, a:b].astype(np.float64)
    seg = seg - np.median(seg, axis=1, keepdims=True)
    spread = np.percentile(np.abs(seg), 99) if seg.size else 1.0
    gap = 2.0 * spread if spread > 0 else 1.0
    t = (a + np.arange(seg.shape[1])) / sf
    n_ch = seg.shape[0]
    fig, ax = plt.subplots(figsize=(12, 0.32 * n_ch + 1.2))
    for i in range(n_ch):
        ax.plot(t, seg[i] - i * gap, color="black", lw=0.5)
    lo, hi = max(highlight[0], a / sf), min(highlight[1], b / sf)
    if hi > lo:
        ax.axvspan(lo, hi, color="#d62728", alpha=0.15, lw=0)
    for e in reference:
        r_lo, r_hi = max(e.start, a / sf), min(e.stop, b / sf)
        if r_hi > r_lo:
            ax.axvspan(r_lo, r_hi, ymin=0, ymax=0.02, color="#2ca02c", lw=0)
    ax.set_yticks([-i * gap for i in range(n_ch)])
    ax.set_yticklabels(recording.ch_names, fontsize=7)
    ax.set_xlim(a / sf, a / sf + page_s)
    ax.set_ylim(-(n_ch - 0.5) * gap, 0.8 * gap)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{_clock(a / sf)} – {_clock(b / sf)}   (scale: {gap:.0f} units between traces)")
    ax.spines[["top", "right", "left"]].set_visible(False)
    return _png(fig)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px}
table{border-collapse:collapse;font-size:13px} td,th{border:1px solid #ccc;padding:3px 8px}
th{background:#f2f2f2;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta td:first-child{font-weight:600;background:#fafafa} img{max-width:100%}
.note{color:#666;font-size:12px} .hit{color:#2ca02c} .fa{color:#d62728}
"""


def render_report(
    recording: Recording,
    probs: np.ndarray,
    prob_sfreq: float,
    events: Sequence[Event],
    reference: Sequence[Event] | None = None,
    threshold: float | None = None,
    title: str | None = None,
    model_name: str = "",
    page_s: float = 10.0,
    extra_meta: dict[str, str] | None = None,
) -> str:
    """The report as an HTML string (see the module docstring).

    Args:
        recording: the signal shown in the trace pages (usually the preprocessed recording).
        probs: ``(T',)`` seizure probabilities at ``prob_sfreq`` Hz.
        events: detected events (seconds).
        reference: annotated events, or None when the recording has none.
        threshold: the decision threshold drawn on the overview.
        page_s: seconds per trace page.
    """
    source = str(recording.meta.get("source") or title or "recording")
    title = title or Path(source).name
    reference = list(reference or [])
    ref_known = bool(reference) or recording.meta.get("has_annotations", False)
    rows = []
    for i, e in enumerate(events, 1):
        if reference:
            hit = _overlaps(e, reference)
            cls, word = ("hit", "yes") if hit else ("fa", "no")
            ref_cell = f"<td class='{cls}'>{word}</td>"
        else:
            ref_cell = ""
        rows.append(
            f"<tr><td class='num'>{i}</td><td class='num'>{e.start:.2f}</td>"
            f"<td>{_clock(e.start)}</td><td class='num'>{e.stop:.2f}</td>"
            f"<td class='num'>{e.duration:.2f}</td><td class='num'>{e.confidence:.3f}</td>"
            f"{ref_cell}</tr>"
        )
    ref_head = "<th>overlaps reference</th>" if reference else ""
    event_table = (
        "<table id='events'><tr><th>#</th><th>onset (s)</th><th>onset (clock)</th>"
        f"<th>offset (s)</th><th>duration (s)</th><th>confidence</th>{ref_head}</tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p id='events'>No seizure events detected.</p>"
    )
    meta = {
        "file": source,
        "duration": f"{recording.duration:.1f} s ({_clock(recording.duration)})",
        "channels": f"{recording.n_channels}: {', '.join(recording.ch_names)}",
        "sampling rate": f"{recording.sfreq:g} Hz",
        "model": model_name or "-",
        "threshold": "-" if threshold is None else f"{threshold:.3f}",
        "detected events": str(len(events)),
        "reference events": str(len(reference)) if ref_known else "no annotations",
        **(extra_meta or {}),
    }
    meta_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in meta.items()
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>eegssm report: {html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Seizure detection: {html.escape(title)}</h1>",
        f"<p class='note'>eegssm report, generated {dt.datetime.now():%Y-%m-%d %H:%M}. "
        "Research software, not a medical device.</p>",
        f"<table class='meta'>{meta_rows}</table>",
        "<h2>Overview</h2>",
        f"<img id='overview' alt='seizure probability over the recording' "
        f"src='{overview_figure(np.asarray(probs), prob_sfreq, events, reference, threshold)}'>",
        "<p class='note'>Blue: seizure probability (maximum per pixel). Red bands: detected "
        "events. Green bars: reference annotations.</p>",
        "<h2>Events</h2>",
        event_table,
    ]
    for i, e in enumerate(list(events)[:MAX_EVENT_PAGES], 1):
        start = max(0.0, e.start - 0.2 * page_s)
        uri = traces_figure(recording, start, page_s, (e.start, e.stop), reference)
        parts.append(
            f"<h2 id='event-{i}'>Event {i}: {_clock(e.start)} – {_clock(e.stop)} "
            f"(confidence {e.confidence:.2f})</h2><img class='traces' alt='EEG around event {i}' "
            f"src='{uri}'>"
        )
    if len(events) > MAX_EVENT_PAGES:
        parts.append(
            f"<p class='note'>Trace pages are shown for the first {MAX_EVENT_PAGES} of "
            f"{len(events)} events.</p>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, *args, **kwargs) -> Path:
    """Render the report (arguments of ``render_report``) and write it atomically to ``path``."""
    from eegssm import atomic

    return atomic.write_text(path, render_report(*args, **kwargs))
