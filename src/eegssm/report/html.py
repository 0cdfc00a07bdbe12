"""The review page: one self-contained HTML file to read a recording's EEG with its detections.

One file, no network: the EEG, the probability and the events are embedded as data, and the page
draws them itself (inline JavaScript and CSS, ``review.js`` and ``review.css`` beside this module).
What it shows:

1. a toolbar: page buttons (and the arrow keys) through the whole record in pages of 10 s
   (5-30 s selectable), the page and its time (elapsed and clock), the montage (double banana,
   referential, average reference: what the channels allow), the sensitivity in µV/mm;
2. the EEG page: clinical channel order, 1 s grid with 0.2 s minor lines, a scale bar, negative
   up, detected events shaded red, reference events marked green;
3. under it, on the same time axis, the seizure probability with the threshold and the events;
4. a whole-record overview strip (click to jump) and the event list (click a row to jump);
5. the recording details and what the display did (filters, rate, quantisation, storage cap).

The data behind the EEG (rates, filters, montages, encoding, cap) is prepared in
:mod:`eegssm.report.display`. Sizes: ``docs/benchmarks/report_size.md``.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Sequence
from importlib import resources
from os import PathLike
from pathlib import Path

import numpy as np

from eegssm.io.types import Event, Recording
from eegssm.report import display

#: Sensitivities offered (µV/mm), as in clinical EEG readers.
SENSITIVITIES_UV = (5, 7, 10, 15, 20, 30, 50, 70, 100)
#: Default sensitivity (µV/mm).
DEFAULT_SENSITIVITY_UV = 7
#: Sensitivities offered for normalised (z-scored) signals, standard deviations per mm.
SENSITIVITIES_Z = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
#: Page lengths offered (s); 10 s is 30 mm/s on a 300 mm wide trace area.
PAGE_LENGTHS_S = (5, 10, 15, 20, 30)


def _clock(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h):02d}:{int(m):02d}:{s:05.2f}"


def _overlaps(event: Event, others: Sequence[Event]) -> bool:
    return any(event.start < o.stop and o.start < event.stop for o in others)


class _Source:
    """The signal the page shows: ``read(a, b)`` → ``(C, b - a)`` for the chosen channels."""

    def __init__(self, source, fallback: Recording) -> None:
        from eegssm.io.read import RecordingSource, open_recording

        if isinstance(source, (str, PathLike)):
            source = open_recording(source)
        self.z_units = False
        if source is None:
            source = fallback
            self.z_units = bool((fallback.meta.get("preprocess") or {}).get("normalize"))
        self.obj = source
        self.sfreq = float(source.sfreq)
        self.ch_names = list(source.ch_names)
        self.meta = dict(source.meta)
        if isinstance(source, RecordingSource):
            self.n_times = source.n_times
            self._read_all = source.read
        else:
            self.n_times = int(source.data.shape[1])
            self._read_all = lambda a, b: np.asarray(source.data[:, a:b])
        self.picks: list[int] = []

    def read(self, a: int, b: int) -> np.ndarray:
        return np.asarray(self._read_all(a, b), dtype=np.float32)[self.picks]


def _eeg_payload(src: _Source, events, reference, max_eeg_hours: float) -> dict:
    """The ``eeg`` and ``montages`` parts of the page data (see :mod:`eegssm.report.display`)."""
    plan = display.plan_channels(src.ch_names)
    src.picks = plan.picks
    rate = display.display_rate(src.sfreq)
    n_out = rate.n_out(src.n_times)
    duration = src.n_times / src.sfreq
    block = int(round(display.BLOCK_S * rate.sfreq))
    n_blocks = max(1, -(-n_out // block))
    # the most important stretches first: reference seizures, then detections by confidence
    priority = [(e.start, e.stop) for e in reference] + [
        (e.start, e.stop) for e in sorted(events, key=lambda e: -e.confidence)
    ]
    chosen = display.choose_blocks(duration, len(plan.picks), priority, max_eeg_hours)
    chosen = [k for k in chosen if k < n_blocks]
    lsb = display.LSB_Z if src.z_units else display.LSB_UV
    sos = display.display_sos(rate.sfreq)
    blocks: list[str | None] = [None] * n_blocks
    clipped = 0
    for first, stop in display.runs(chosen):
        j0, j1 = first * block, min(stop * block, n_out)
        if j1 <= j0:  # an empty recording
            continue
        x = display.render_span(src.read, src.n_times, rate, j0, j1, sos)
        q = display.quantise(x, lsb)
        clipped += int(np.count_nonzero(np.abs(x) >= 32767 * lsb))
        for k in range(first, stop):
            a, b = k * block - j0, min((k + 1) * block, n_out) - j0
            blocks[k] = display.encode_int16(q[:, a:b])
    stored_s = sum(b - a for a, b in display.stored_spans(chosen, duration))
    return {
        "eeg": {
            "sfreq": rate.sfreq,
            "lsb": lsb,
            "n_samples": n_out,
            "block_samples": block,
            "n_channels": len(plan.picks),
            "names": plan.names,
            "blocks": blocks,
            "stored": display.stored_spans(chosen, duration),
            "stored_s": stored_s,
            "all_stored": len(chosen) == n_blocks,
            "max_eeg_hours": max_eeg_hours,
            "clipped_samples": clipped,
            "filters": display.filter_description(rate.sfreq),
        },
        "montages": plan.montages,
    }


def _json_for_script(data: dict) -> str:
    """JSON safe inside ``<script>``: no ``<`` (so no ``</script>``) and ASCII only."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")


def _asset(name: str) -> str:
    return resources.files("eegssm.report").joinpath(name).read_text(encoding="utf-8")


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
    raw=None,
    max_eeg_hours: float = display.MAX_EEG_HOURS,
) -> str:
    """The review page as an HTML string (see the module docstring).

    Args:
        recording: the recording detection ran on (usually preprocessed); its EEG is shown when
            ``raw`` is None (in standard deviations when it is normalised).
        probs: ``(T',)`` seizure probabilities at ``prob_sfreq`` Hz (e.g. per sample at the
            model rate); max-pooled to 0.1 s bins for display.
        events: detected events (seconds).
        reference: annotated events, or None when the recording has none.
        threshold: the decision threshold drawn under the EEG and on the overview.
        page_s: seconds per page at opening (5, 10, 15, 20 or 30).
        raw: the recording as read, in µV, shown as EEG: a :class:`Recording`, an opened
            :class:`~eegssm.io.RecordingSource` or an EDF/BDF path (read stretch by stretch).
        max_eeg_hours: cap on the EEG stored in the page, in hours of 19 channels (scaled for
            other channel counts); longer records keep the stretches around events first.
    """
    src = _Source(raw, recording)
    source = str(src.meta.get("source") or recording.meta.get("source") or title or "recording")
    title = title or Path(source).name
    events = list(events)
    ref_list = list(reference or [])
    ref_known = reference is not None or bool(recording.meta.get("has_annotations", False))
    duration = src.n_times / src.sfreq

    payload = _eeg_payload(src, events, ref_list, max_eeg_hours)
    peaks, prob_rate = display.max_pool(np.asarray(probs), prob_sfreq)
    page_s = float(page_s) if page_s in PAGE_LENGTHS_S else 10.0
    payload.update(
        title=title,
        duration=duration,
        start_time=src.meta.get("start_time") or recording.meta.get("start_time"),
        page_s=page_s,
        page_lengths=list(PAGE_LENGTHS_S),
        unit="SD" if src.z_units else "µV",
        sensitivities=list(SENSITIVITIES_Z if src.z_units else SENSITIVITIES_UV),
        sensitivity=0.1 if src.z_units else DEFAULT_SENSITIVITY_UV,
        prob={
            "rate": prob_rate,
            "n": int(peaks.size),
            "data": display.encode_bytes(np.round(np.clip(peaks, 0, 1) * 255)),
            "threshold": threshold,
        },
        events=[
            {
                "start": e.start,
                "stop": e.stop,
                "confidence": e.confidence,
                "overlaps": _overlaps(e, ref_list) if ref_list else None,
            }
            for e in events
        ],
        reference=[{"start": e.start, "stop": e.stop, "label": e.label} for e in ref_list],
    )
    eeg = payload["eeg"]
    ref_head = "<th>overlaps reference</th>" if ref_list else ""
    rows = []
    for i, (e, info) in enumerate(zip(events, payload["events"]), 1):
        ref_cell = ""
        if ref_list:
            cls, word = ("hit", "yes") if info["overlaps"] else ("fa", "no")
            ref_cell = f"<td class='{cls}'>{word}</td>"
        rows.append(
            f"<tr class='event' tabindex='0' data-index='{i - 1}' data-start='{e.start:.3f}' "
            f"title='show the page of this event'><td class='num'>{i}</td>"
            f"<td class='num'>{e.start:.2f}</td><td>{_clock(e.start)}</td>"
            f"<td class='num'>{e.stop:.2f}</td><td class='num'>{e.duration:.2f}</td>"
            f"<td class='num'>{e.confidence:.3f}</td>{ref_cell}</tr>"
        )
    event_table = (
        "<table id='events'><thead><tr><th>#</th><th>onset (s)</th><th>onset (elapsed)</th>"
        f"<th>offset (s)</th><th>duration (s)</th><th>confidence</th>{ref_head}</tr></thead>"
        "<tbody>" + "".join(rows) + "</tbody></table>"
        if rows
        else "<p id='events'>No seizure events detected.</p>"
    )
    ref_rows = "".join(
        f"<tr class='event' tabindex='0' data-start='{e.start:.3f}'><td class='num'>{i}</td>"
        f"<td class='num'>{e.start:.2f}</td><td>{_clock(e.start)}</td>"
        f"<td class='num'>{e.stop:.2f}</td><td class='num'>{e.duration:.2f}</td>"
        f"<td>{html.escape(e.label)}</td></tr>"
        for i, e in enumerate(ref_list, 1)
    )
    ref_table = (
        "<details><summary>Reference annotations</summary><table id='reference'><thead><tr>"
        "<th>#</th><th>onset (s)</th><th>onset (elapsed)</th><th>offset (s)</th>"
        f"<th>duration (s)</th><th>label</th></tr></thead><tbody>{ref_rows}</tbody></table>"
        "</details>"
        if ref_list
        else ""
    )
    stored = (
        "the whole record"
        if eeg["all_stored"]
        else f"{eeg['stored_s'] / 3600:.2f} h of {duration / 3600:.2f} h (the report stores at "
        f"most {max_eeg_hours:g} h of 19-channel EEG: the stretches within "
        f"{display.CONTEXT_S:g} s of events first, then the earliest; other pages show no EEG)"
    )
    meta = {
        "file": source,
        "duration": f"{duration:.1f} s ({_clock(duration)})",
        "start": str(payload["start_time"] or "unknown"),
        "channels": f"{len(src.ch_names)}: {', '.join(src.ch_names)}",
        "sampling rate": f"{src.sfreq:g} Hz",
        "model": model_name or "-",
        "threshold": "-" if threshold is None else f"{threshold:.3f}",
        "detected events": str(len(events)),
        "reference events": str(len(ref_list)) if ref_known else "no annotations",
        "EEG stored in this page": stored,
        **(extra_meta or {}),
    }
    meta_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in meta.items()
    )
    unit = payload["unit"]
    missing = "; ".join(
        f"{m['name']}: {', '.join(m['missing'])}" for m in payload["montages"] if m["missing"]
    )
    display_note = (
        f"Display: {eeg['sfreq']:g} Hz, filters {eeg['filters']}; negative up; "
        f"quantised to {eeg['lsb']:g} {unit}"
        + (
            f" ({eeg['clipped_samples']} samples beyond ±{32767 * eeg['lsb']:g} {unit} clipped)"
            if eeg["clipped_samples"]
            else ""
        )  # fmt: skip
        + ". Millimetres are CSS millimetres (96 px per inch at 100 % zoom): the true size "
        "depends on the screen. EEG stored: "
        + stored
        + "."
        + (f" Not in the recording: {missing}." if missing else "")
        + (
            " The signal is the detector's normalised input (standard deviations), not µV."
            if src.z_units
            else ""
        )
    )
    summary = (
        f"{html.escape(_clock(duration))} · {len(events)} detected event(s)"
        + (f" · {len(ref_list)} reference event(s)" if ref_known else " · no annotations")
        + (f" · model {html.escape(model_name)}" if model_name else "")
        + ("" if threshold is None else f" · threshold {threshold:.2f}")
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<link rel='icon' href='data:,'>",
        f"<title>eegssm review: {html.escape(title)}</title>",
        f"<style>{_asset('review.css')}</style></head><body>",
        f"<header><h1>Seizure detection review: {html.escape(title)}</h1>",
        f"<p class='summary'>{summary}</p></header>",
        "<noscript><p class='warn'>This page draws the EEG with JavaScript; enable it to review "
        "the recording.</p></noscript>",
        _TOOLBAR,
        "<div id='viewer'><canvas id='eeg' aria-label='EEG page'></canvas>"
        "<canvas id='prob' aria-label='seizure probability under the page'></canvas>"
        "<canvas id='overview' aria-label='whole-record overview: click to jump'></canvas></div>",
        "<p class='note' id='legend'>Red: detected seizure (shaded on the EEG; bar under the "
        "probability). Green: reference annotation. Dashed line: decision threshold. Overview: "
        "maximum probability per pixel over the whole record, grey bar where EEG is stored, "
        "box = this page; click to jump. Keys: ← → page, ↑ ↓ sensitivity (larger / smaller), "
        "Home / End first / last page, N / P next / previous event.</p>",
        "<section><h2>Events</h2>",
        "<p class='note'>Click a row to show its page.</p>" if rows else "",
        event_table,
        ref_table,
        "</section><section><h2>Recording</h2>",
        f"<table class='meta'>{meta_rows}</table>",
        f"<p class='note' id='display-note'>{html.escape(display_note)}</p>",
        f"<p class='note'>eegssm review page, generated {dt.datetime.now():%Y-%m-%d %H:%M}. "
        "Research software, not a medical device.</p></section>",
        f"{_DATA_OPEN}{_json_for_script(payload)}</script>",
        f"<script>{_asset('review.js')}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)


_TOOLBAR = "\n".join(
    [
        "<nav id='toolbar'>",
        "<button id='first' title='first page (Home)'>|&#x25C0;</button>",
        "<button id='prev' title='previous page (&#x2190;)'>&#x25C0;</button>",
        "<label>page <input id='page-input' type='number' min='1' value='1'>",
        " / <span id='page-count'>1</span></label>",
        "<button id='next' title='next page (&#x2192;)'>&#x25B6;</button>",
        "<button id='last' title='last page (End)'>&#x25B6;|</button>",
        "<span id='page-time' class='time'></span>",
        "<button id='prev-event' title='previous event (P)'>&#x21E4; event</button>",
        "<button id='next-event' title='next event (N)'>event &#x21E5;</button>",
        "<label>montage <select id='montage'></select></label>",
        "<label>sensitivity <select id='sensitivity'></select></label>",
        "<label>page <select id='page-length'></select></label>",
        "<span id='timebase' class='note' title='timebase at this window width, in CSS "
        "millimetres; paper EEG runs at 30 mm/s (10 s on 300 mm)'></span>",
        "</nav>",
    ]
)


def page_data(text: str) -> dict:
    """The data a review page draws from (its ``review-data`` JSON), read back from its HTML."""
    start = text.find(_DATA_OPEN)
    if start < 0:
        raise ValueError("not an eegssm review page: no review-data script")
    start += len(_DATA_OPEN)
    return json.loads(text[start : text.index("</script>", start)])


_DATA_OPEN = "<script type='application/json' id='review-data'>"


def write_report(path: str | Path, *args, **kwargs) -> Path:
    """Render the page (arguments of ``render_report``) and write it atomically to ``path``."""
    from eegssm import atomic

    return atomic.write_text(path, render_report(*args, **kwargs))
