// eegssm review page: draws the embedded EEG page by page (see eegssm/report/html.py).
// Data: <script id="review-data"> JSON; EEG blocks are base64(zlib(int16 first differences)).
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("review-data").textContent);
  const E = D.eeg;
  const MM = 96 / 25.4; // CSS px per millimetre
  const LABEL_W = 86; // px: channel-name column (all three canvases share the time axis)
  const RIGHT_PAD = 10;
  const PROB_H = 74;
  const OVERVIEW_H = 50;
  // t0: start of the page shown (s). Paging moves it by a page; jumps to an event put the onset
  // 30 % into the page, so the page number is the page holding t0.
  const state = { t0: 0, pageS: D.page_s, montage: 0, sens: D.sensitivity };
  const cache = new Map();
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  let seq = 0;
  let drawn = 0;

  // ---- data ------------------------------------------------------------------------------
  const probBytes = { data: null };

  async function inflate(b64) {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  // Block k: {n, data: Int16Array(C * n), row-major}, or null when not stored.
  function block(k) {
    if (!cache.has(k)) {
      const text = E.blocks[k];
      cache.set(k, text == null ? Promise.resolve(null) : inflate(text).then((u8) => {
        const d = new Int16Array(u8.buffer, u8.byteOffset, u8.byteLength >> 1);
        const C = E.n_channels;
        const n = d.length / C;
        const out = new Int16Array(d.length);
        for (let c = 0; c < C; c++) {
          let acc = 0;
          for (let j = c * n, end = j + n; j < end; j++) {
            acc = ((acc + d[j]) << 16) >> 16; // 16-bit running sum (the encoder wraps)
            out[j] = acc;
          }
        }
        return { n: n, data: out };
      }));
    }
    return cache.get(k);
  }

  // Stored channels over display samples [j0, j1): Float32Array rows (NaN where not stored).
  async function segment(j0, j1) {
    const B = E.block_samples;
    const C = E.n_channels;
    const n = Math.max(0, j1 - j0);
    const rows = [];
    for (let c = 0; c < C; c++) rows.push(new Float32Array(n).fill(NaN));
    if (n === 0) return rows;
    for (let k = Math.floor(j0 / B); k <= Math.floor((j1 - 1) / B); k++) {
      const blk = await block(k);
      if (!blk) continue;
      const a = Math.max(j0, k * B);
      const b = Math.min(j1, k * B + blk.n);
      for (let c = 0; c < C; c++) {
        const row = rows[c];
        const base = c * blk.n - k * B;
        for (let j = a; j < b; j++) row[j - j0] = blk.data[base + j] * E.lsb;
      }
    }
    return rows;
  }

  function combine(rows, terms, n) {
    const v = new Float32Array(n);
    for (const [ch, w] of terms) {
      const x = rows[ch];
      for (let j = 0; j < n; j++) v[j] += w * x[j];
    }
    return v;
  }

  // ---- time ------------------------------------------------------------------------------
  const pad = (x) => String(x).padStart(2, "0");
  function hms(s) {
    s = Math.max(0, Math.floor(s + 1e-6));
    return pad(Math.floor(s / 3600)) + ":" + pad(Math.floor(s / 60) % 60) + ":" + pad(s % 60);
  }
  const startOfDay = (() => {
    const m = /T(\d\d):(\d\d):(\d\d(?:\.\d+)?)/.exec(D.start_time || "");
    return m ? (+m[1]) * 3600 + (+m[2]) * 60 + (+m[3]) : null;
  })();
  const clock = (t) => (startOfDay === null ? null : hms((startOfDay + t) % 86400));
  const nPages = () => Math.max(1, Math.ceil(D.duration / state.pageS - 1e-9));
  const pageNumber = () => Math.floor(state.t0 / state.pageS + 1e-9);
  const EVENT_LEAD = 0.3; // an event's onset is shown this far into its page
  const montage = () => D.montages[state.montage];

  // ---- canvases --------------------------------------------------------------------------
  function setup(cv, cssH) {
    const dpr = window.devicePixelRatio || 1;
    const w = cv.clientWidth || 1000;
    cv.style.height = cssH + "px";
    cv.width = Math.round(w * dpr);
    cv.height = Math.round(cssH * dpr);
    const ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, cssH);
    return { ctx: ctx, w: w, h: cssH };
  }

  function timeGrid(ctx, x, t0, t1, top, bottom, minor) {
    const pxPerS = x(t0 + 1) - x(t0);
    if (minor && pxPerS * 0.2 >= 6) {
      ctx.strokeStyle = "#eceef2";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let k = Math.ceil(t0 * 5 - 1e-6); k / 5 < t1; k++) {
        if (k % 5 === 0) continue;
        const px = Math.round(x(k / 5)) + 0.5;
        ctx.moveTo(px, top);
        ctx.lineTo(px, bottom);
      }
      ctx.stroke();
    }
    ctx.strokeStyle = "#c3c8d0";
    ctx.beginPath();
    for (let s = Math.ceil(t0 - 1e-6); s <= t1 + 1e-6; s++) {
      const px = Math.round(x(s)) + 0.5;
      ctx.moveTo(px, top);
      ctx.lineTo(px, bottom);
    }
    ctx.stroke();
  }

  function spans(list, t0, t1) {
    return list.filter((e) => e.start < t1 && e.stop > t0);
  }

  // ---- the EEG page ----------------------------------------------------------------------
  function drawEEG(rows, j0, t0, t1) {
    const m = montage();
    const R = m.rows.length;
    let gaps = 0;
    for (let r = 1; r < R; r++) if (m.rows[r].group !== m.rows[r - 1].group) gaps++;
    // fit the page, the probability and the overview in the window (scrolled to the top)
    const avail = window.innerHeight - $("viewer").offsetTop - PROB_H - OVERVIEW_H - 24;
    const height = Math.max(R * 22 + 44, Math.min(avail, R * 60 + 44));
    const { ctx, w, h } = setup($("eeg"), height);
    const TOP = 20;
    const BOT = 6;
    const x = (t) => LABEL_W + ((t - t0) / state.pageS) * (w - LABEL_W - RIGHT_PAD);
    const rowH = (h - TOP - BOT) / (R + 0.6 * gaps);
    const ys = [];
    let g = 0;
    for (let r = 0; r < R; r++) {
      if (r > 0 && m.rows[r].group !== m.rows[r - 1].group) g++;
      ys.push(TOP + (r + 0.5 + 0.6 * g) * rowH);
    }
    // detections behind everything
    ctx.fillStyle = "rgba(214, 39, 40, 0.10)";
    for (const e of spans(D.events, t0, t1)) {
      ctx.fillRect(x(Math.max(e.start, t0)), TOP, x(Math.min(e.stop, t1)) - x(Math.max(e.start, t0)), h - TOP - BOT);
    }
    timeGrid(ctx, x, t0, t1, TOP, h - BOT, true);
    // time labels every 1, 2, 5 or 10 s
    const pxPerS = x(t0 + 1) - x(t0);
    ctx.fillStyle = "#333";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "left";
    const labelW = ctx.measureText("00:00:00").width + 10;
    const step = [1, 2, 5, 10, 30, 60].find((s) => s * pxPerS >= labelW) || 60;
    for (let s = Math.ceil(t0 / step - 1e-6) * step; s < t1 - 1e-6; s += step) {
      if (x(s) + labelW > w - RIGHT_PAD + 4) break;
      ctx.fillText(hms(s), x(s) + 3, 12);
    }
    // reference annotations: green band at the top, onset line
    for (const e of spans(D.reference || [], t0, t1)) {
      ctx.fillStyle = "#2ca02c";
      ctx.fillRect(x(Math.max(e.start, t0)), TOP - 5, x(Math.min(e.stop, t1)) - x(Math.max(e.start, t0)), 4);
    }
    // event onset/offset lines
    ctx.lineWidth = 1.5;
    for (const [list, colour] of [[D.events, "#d62728"], [D.reference || [], "#2ca02c"]]) {
      ctx.strokeStyle = colour;
      for (const e of spans(list, t0, t1)) {
        for (const [t, dash] of [[e.start, []], [e.stop, [5, 4]]]) {
          if (t < t0 || t > t1) continue;
          ctx.setLineDash(dash);
          ctx.beginPath();
          ctx.moveTo(Math.round(x(t)) + 0.5, TOP);
          ctx.lineTo(Math.round(x(t)) + 0.5, h - BOT);
          ctx.stroke();
        }
      }
    }
    ctx.setLineDash([]);
    // channel labels
    ctx.fillStyle = "#111";
    ctx.font = (rowH < 16 ? "10px" : "12px") + " system-ui, sans-serif";
    ctx.textAlign = "right";
    for (let r = 0; r < R; r++) ctx.fillText(m.rows[r].label, LABEL_W - 8, ys[r] + 4);
    // traces, negative up: y = baseline + value * px per unit
    const n = rows.length ? rows[0].length : 0;
    const scale = MM / state.sens;
    ctx.save();
    ctx.beginPath();
    ctx.rect(LABEL_W, TOP, w - LABEL_W - RIGHT_PAD, h - TOP - BOT);
    ctx.clip();
    ctx.strokeStyle = "#101418";
    ctx.lineWidth = 1;
    ctx.lineJoin = "round";
    const xs = new Float32Array(n);
    for (let j = 0; j < n; j++) xs[j] = x((j0 + j) / E.sfreq);
    let stored = n === 0;
    for (let r = 0; r < R; r++) {
      const v = combine(rows, m.rows[r].terms, n);
      ctx.beginPath();
      let pen = false;
      for (let j = 0; j < n; j++) {
        if (Number.isNaN(v[j])) {
          pen = false;
          continue;
        }
        stored = true;
        const y = ys[r] + v[j] * scale;
        if (pen) ctx.lineTo(xs[j], y);
        else ctx.moveTo(xs[j], y);
        pen = true;
      }
      ctx.stroke();
    }
    ctx.restore();
    // stretches of this page without stored EEG
    const missing = [];
    for (let j = 0; j < n; j++) {
      if (!Number.isNaN(rows.length ? rows[0][j] : NaN)) continue;
      const t = (j0 + j) / E.sfreq;
      if (missing.length && j > 0 && Number.isNaN(rows[0][j - 1])) missing[missing.length - 1][1] = t;
      else missing.push([t, t]);
    }
    for (const [a, b] of missing) {
      if (x(b) - x(a) < 2) continue;
      ctx.fillStyle = "rgba(235, 237, 240, 0.9)";
      ctx.fillRect(x(a), TOP, x(b) - x(a), h - TOP - BOT);
      ctx.fillStyle = "#555";
      ctx.textAlign = "center";
      ctx.font = "14px system-ui, sans-serif";
      const why = E.all_stored ? "beyond the end of the recording" : "EEG of this stretch not stored in this report (at most " + E.max_eeg_hours + " h are, around events first: see the notes below)";
      ctx.fillText(why, (x(a) + x(b)) / 2, h / 2);
    }
    // calibration: 10 mm = 10 x sensitivity, and 1 s
    const barH = 10 * MM;
    const bx = w - RIGHT_PAD - 12;
    const by = h - BOT - 10;
    ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
    ctx.fillRect(bx - pxPerS - 58, by - barH - 6, pxPerS + 66, barH + 14);
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(bx, by - barH);
    ctx.lineTo(bx, by);
    ctx.lineTo(bx - pxPerS, by);
    ctx.stroke();
    ctx.fillStyle = "#000";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.fillText(fmtUnits(10 * state.sens), bx - 4, by - barH + 9);
    ctx.textAlign = "center";
    ctx.fillText("1 s", bx - pxPerS / 2, by - 3);
    return { w: w, x: x, stored: stored };
  }

  const fmtUnits = (v) => (+v.toPrecision(3)) + " " + D.unit;

  // ---- the probability under the page --------------------------------------------------------
  function drawProb(w, x, t0, t1) {
    const { ctx, h } = setup($("prob"), PROB_H);
    const top = 6;
    const bottom = 46;
    const y = (p) => bottom - p * (bottom - top);
    timeGrid(ctx, x, t0, t1, top, h - 2, false);
    ctx.strokeStyle = "#d6d8dc";
    ctx.strokeRect(LABEL_W + 0.5, top + 0.5, w - LABEL_W - RIGHT_PAD - 1, bottom - top);
    const P = D.prob;
    const k0 = Math.max(0, Math.floor(t0 * P.rate));
    const k1 = Math.min(P.n, Math.ceil(t1 * P.rate));
    ctx.save();
    ctx.beginPath();
    ctx.rect(LABEL_W, 0, w - LABEL_W - RIGHT_PAD, h);
    ctx.clip();
    ctx.beginPath();
    ctx.moveTo(x(k0 / P.rate), y(0));
    for (let k = k0; k < k1; k++) {
      const p = probBytes.data[k] / 255;
      ctx.lineTo(x(k / P.rate), y(p));
      ctx.lineTo(x((k + 1) / P.rate), y(p));
    }
    ctx.lineTo(x(k1 / P.rate), y(0));
    ctx.fillStyle = "rgba(31, 78, 121, 0.18)";
    ctx.fill();
    ctx.strokeStyle = "#1f4e79";
    ctx.lineWidth = 1.2;
    ctx.stroke();
    if (P.threshold !== null && P.threshold !== undefined) {
      ctx.strokeStyle = "#d62728";
      ctx.setLineDash([4, 3]);
      ctx.beginPath();
      ctx.moveTo(LABEL_W, Math.round(y(P.threshold)) + 0.5);
      ctx.lineTo(w - RIGHT_PAD, Math.round(y(P.threshold)) + 0.5);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.fillStyle = "#d62728";
    for (const e of spans(D.events, t0, t1)) ctx.fillRect(x(e.start), 50, x(e.stop) - x(e.start), 9);
    ctx.fillStyle = "#2ca02c";
    for (const e of spans(D.reference || [], t0, t1)) ctx.fillRect(x(e.start), 62, x(e.stop) - x(e.start), 9);
    ctx.restore();
    ctx.fillStyle = "#333";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.fillText("p(seizure)", LABEL_W - 8, 24);
    ctx.fillText("1", LABEL_W - 3, top + 8);
    ctx.fillText("0", LABEL_W - 3, bottom);
    ctx.fillText("detected", LABEL_W - 8, 58);
    if (D.reference && D.reference.length) ctx.fillText("reference", LABEL_W - 8, 70);
  }

  // ---- the whole-record overview -------------------------------------------------------------
  function overviewX(w) {
    return (t) => LABEL_W + (t / Math.max(D.duration, 1e-9)) * (w - LABEL_W - RIGHT_PAD);
  }

  function drawOverview(t0, t1) {
    const { ctx, w } = setup($("overview"), OVERVIEW_H);
    const X = overviewX(w);
    const trackW = w - LABEL_W - RIGHT_PAD;
    const top = 13;
    const bottom = 33;
    ctx.fillStyle = "#f7f8fa";
    ctx.fillRect(LABEL_W, top, trackW, bottom - top);
    // ticks
    const ticks = [60, 300, 600, 1800, 3600, 7200, 14400, 28800];
    const step = ticks.find((s) => (s / D.duration) * trackW >= 70) || 28800;
    ctx.fillStyle = "#555";
    ctx.strokeStyle = "#dde0e4";
    ctx.font = "10px system-ui, sans-serif";
    ctx.textAlign = "center";
    for (let s = 0; s <= D.duration; s += step) {
      ctx.fillText(hms(s).slice(0, 5), Math.min(Math.max(X(s), LABEL_W + 14), w - RIGHT_PAD - 14), 10);
      ctx.beginPath();
      ctx.moveTo(Math.round(X(s)) + 0.5, top);
      ctx.lineTo(Math.round(X(s)) + 0.5, bottom);
      ctx.stroke();
    }
    // maximum probability per pixel column
    const P = D.prob;
    ctx.fillStyle = "#1f4e79";
    const cols = Math.max(1, Math.floor(trackW));
    for (let c = 0; c < cols; c++) {
      const a = Math.floor(((c / cols) * D.duration) * P.rate);
      const b = Math.max(a + 1, Math.floor((((c + 1) / cols) * D.duration) * P.rate));
      let mx = 0;
      for (let k = a; k < Math.min(b, P.n); k++) if (probBytes.data[k] > mx) mx = probBytes.data[k];
      if (mx > 0) {
        const hh = (mx / 255) * (bottom - top);
        ctx.fillRect(LABEL_W + c, bottom - hh, 1, hh);
      }
    }
    if (P.threshold !== null && P.threshold !== undefined) {
      ctx.strokeStyle = "rgba(214, 39, 40, 0.7)";
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      const yt = Math.round(bottom - P.threshold * (bottom - top)) + 0.5;
      ctx.moveTo(LABEL_W, yt);
      ctx.lineTo(w - RIGHT_PAD, yt);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    const bar = (list, colour, y0, hh) => {
      ctx.fillStyle = colour;
      for (const e of list) ctx.fillRect(X(e.start), y0, Math.max(2, X(e.stop) - X(e.start)), hh);
    };
    bar(D.events, "#d62728", 35, 4);
    bar(D.reference || [], "#2ca02c", 40, 4);
    bar(E.stored.map(([a, b]) => ({ start: a, stop: b })), "#9aa0a8", 45, 3);
    // this page
    ctx.strokeStyle = "#000";
    ctx.lineWidth = 1.5;
    ctx.strokeRect(X(t0), top - 2, Math.max(3, X(t1) - X(t0)), bottom - top + 4);
    ctx.fillStyle = "#333";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    ctx.fillText("overview", LABEL_W - 8, 27);
  }

  // ---- one draw ------------------------------------------------------------------------------
  async function draw() {
    const token = ++seq;
    const t0 = state.t0;
    const t1 = t0 + state.pageS;
    const j0 = Math.max(0, Math.floor(t0 * E.sfreq));
    const j1 = Math.min(E.n_samples, Math.ceil(t1 * E.sfreq) + 1);
    const rows = await segment(j0, j1);
    if (token !== seq) return; // a later draw replaced this one
    const page = drawEEG(rows, j0, t0, t1);
    drawProb(page.w, page.x, t0, t1);
    drawOverview(t0, t1);
    // indicators
    $("page-input").value = pageNumber() + 1;
    $("page-input").max = nPages();
    $("page-count").textContent = nPages();
    const c = clock(t0);
    $("page-time").textContent = hms(t0) + " \u2013 " + hms(Math.min(t1, D.duration)) + (c ? "  \u00b7 clock " + c : "");
    const mmPerS = (page.w - LABEL_W - RIGHT_PAD) / MM / state.pageS;
    $("timebase").textContent = "\u2248 " + mmPerS.toFixed(0) + " mm/s";
    for (const tr of document.querySelectorAll("#events tr.event")) {
      const e = D.events[+tr.dataset.index];
      tr.classList.toggle("current", e.start < t1 && e.stop > t0);
    }
    drawn++;
    Object.assign(body.dataset, {
      page: String(pageNumber()),
      t0: String(t0),
      montage: montage().key,
      sensitivity: String(state.sens),
      pageLength: String(state.pageS),
      stored: String(page.stored),
      drawn: String(drawn),
    });
  }

  function redraw() {
    draw().catch((err) => {
      console.error("eegssm review: drawing failed:", err);
      $("page-time").textContent = "drawing failed: " + err;
    });
  }

  // show the page starting at t (s), within the record
  function show(t) {
    state.t0 = Math.min(Math.max(0, t), (nPages() - 1) * state.pageS);
    redraw();
  }
  const goto = (page) => show(Math.floor(page) * state.pageS);
  const step = (pages) => show(state.t0 + pages * state.pageS);
  // an event's page: its onset EVENT_LEAD into the page, on a whole second
  const showEvent = (onset) => show(Math.floor(onset - EVENT_LEAD * state.pageS));

  function jumpEvent(direction) {
    const list = (D.events.length ? D.events : D.reference || []).map((e) => e.start).sort((a, b) => a - b);
    const focus = state.t0 + EVENT_LEAD * state.pageS;
    const target = direction > 0 ? list.find((s) => s > focus + 0.5) : list.filter((s) => s < focus - 0.5).pop();
    if (target !== undefined) showEvent(target);
  }

  // one step along the sensitivity list (-1: more sensitive, larger traces)
  function setSensitivity(step) {
    const i = D.sensitivities.indexOf(state.sens) + step;
    if (i < 0 || i >= D.sensitivities.length) return;
    state.sens = D.sensitivities[i];
    $("sensitivity").value = String(i);
    redraw();
  }

  // ---- controls ------------------------------------------------------------------------------
  function fill(select, values, label, selected) {
    for (const [i, v] of values.entries()) {
      const o = document.createElement("option");
      o.value = String(i);
      o.textContent = label(v);
      if (v === selected) o.selected = true;
      select.appendChild(o);
    }
  }
  fill($("montage"), D.montages, (m) => m.name, D.montages[0]);
  fill($("sensitivity"), D.sensitivities, (s) => s + " " + D.unit + "/mm", D.sensitivity);
  fill($("page-length"), D.page_lengths, (s) => s + " s", D.page_s);
  for (const [i, m] of D.montages.entries()) $("montage").options[i].title = m.title;

  $("montage").addEventListener("change", (ev) => {
    state.montage = +ev.target.value;
    ev.target.blur();
    redraw();
  });
  $("sensitivity").addEventListener("change", (ev) => {
    state.sens = D.sensitivities[+ev.target.value];
    ev.target.blur();
    redraw();
  });
  $("page-length").addEventListener("change", (ev) => {
    state.pageS = D.page_lengths[+ev.target.value];
    ev.target.blur();
    show(state.t0);
  });
  $("page-input").addEventListener("change", (ev) => goto(+ev.target.value - 1));
  $("first").addEventListener("click", () => goto(0));
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("last").addEventListener("click", () => goto(nPages() - 1));
  $("prev-event").addEventListener("click", () => jumpEvent(-1));
  $("next-event").addEventListener("click", () => jumpEvent(1));
  $("overview").addEventListener("click", (ev) => {
    const r = ev.currentTarget.getBoundingClientRect();
    const t = ((ev.clientX - r.left - LABEL_W) / (r.width - LABEL_W - RIGHT_PAD)) * D.duration;
    show(Math.floor(t - state.pageS / 2)); // centred on the click
  });
  for (const tr of document.querySelectorAll("tr.event")) {
    const jump = () => {
      showEvent(+tr.dataset.start);
      window.scrollTo(0, 0); // show the page
    };
    tr.addEventListener("click", jump);
    tr.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") {
        ev.preventDefault();
        jump();
      }
    });
  }
  document.addEventListener("keydown", (ev) => {
    const tag = ev.target && ev.target.tagName;
    if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA" || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const keys = {
      ArrowRight: () => step(1),
      ArrowLeft: () => step(-1),
      PageDown: () => step(1),
      PageUp: () => step(-1),
      Home: () => goto(0),
      End: () => goto(nPages() - 1),
      ArrowUp: () => setSensitivity(-1),
      ArrowDown: () => setSensitivity(1),
      n: () => jumpEvent(1),
      p: () => jumpEvent(-1),
    };
    const act = keys[ev.key] || keys[ev.key.toLowerCase()];
    if (act) {
      ev.preventDefault();
      act();
    }
  });
  let pending = false;
  window.addEventListener("resize", () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      redraw();
    });
  });

  // for tests and the curious: the values (in D.unit) of a montage row over display samples
  window.eegReview = {
    data: D,
    state: state,
    goto: goto,
    show: show,
    rowLabels: () => montage().rows.map((r) => r.label),
    values: async (row, j0, j1) => Array.from(combine(await segment(j0, j1), montage().rows[row].terms, j1 - j0)),
  };

  if (typeof DecompressionStream === "undefined") {
    $("page-time").textContent = "This browser cannot unpack the embedded EEG (needs DecompressionStream: Chrome 80, Firefox 113, Safari 16.4 or later).";
    return;
  }
  inflate(D.prob.data)
    .then((u8) => {
      probBytes.data = u8;
      redraw();
    })
    .catch((err) => console.error("eegssm review: cannot read the probability:", err));
})();
