// The synced timeline (web/timeline_component.py): one time axis for the
// video, its playhead, AU traces, face rows and labelled segments.
//
// Streamlit calls the default export on mount and again whenever the data from
// Python changes, with the same element; the Timeline object lives on that element,
// so the <video> keeps playing across reruns and listeners are bound once.

const SVG_NS = "http://www.w3.org/2000/svg";
const GUTTER = 112; // left column with the row names
const PAD_RIGHT = 12;
// Vertical layout of the trace area and the rows under it (px).
const TRACE_TOP = 8;
const TRACE_HEIGHT = 132;
const ROWS = [
  { key: "face", name: "patient face", top: 148, height: 13, colour: "#27ae60" },
  { key: "other", name: "other face", top: 165, height: 13, colour: "#e67e22" },
  { key: "none", name: "no patient face", top: 182, height: 13, colour: "#7f8c8d" },
];
const SEG_ROW = { name: "segments", top: 200, height: 24 };
const AXIS_TOP = 230;
const HEIGHT = 252;
const AU_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
// Seek this far into a frame so the decoder shows that frame, not the one before it.
const EPS = 0.001;
// How far inside a frame of a playback copy a seek lands (s): more than its listed times may be off.
const MEDIA_MARGIN = 0.002;
const TICK_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];

let instances = 0;

// A width between two x positions: never negative (a band partly outside the window shown, or an
// SVG laid out narrower than its gutter while the page reflows), which the browser refuses.
function span(from, to, least = 0) {
  return Math.max(least, to - from);
}

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (parent) parent.appendChild(el);
  return el;
}

class Timeline {
  constructor(root) {
    this.root = root;
    this.id = `facs-tl-${++instances}`;
    this.video = root.querySelector(".facs-tl-video");
    this.noVideo = root.querySelector(".facs-tl-novideo");
    this.svg = root.querySelector(".facs-tl-svg");
    this.timeOut = root.querySelector(".facs-tl-time");
    this.selOut = root.querySelector(".facs-tl-sel");
    this.msg = root.querySelector(".facs-tl-msg");
    this.legend = root.querySelector(".facs-tl-legend");
    this.list = root.querySelector(".facs-tl-segs");
    this.labelInput = root.querySelector(".facs-tl-label");
    this.playButton = root.querySelector('[data-act="play"]');
    this.zoomOut = root.querySelector(".facs-tl-window");
    this.data = {};
    this.duration = 0;
    this.fps = null;
    this.times = null; // when each frame is shown (s), if Python sent them
    this.media = null; // when the same frames show in the played file, where it is a playback copy
    this.cursor = 0; // the playhead when there is no video
    this.inT = null;
    this.outT = null;
    this.editing = null;
    this.stopAt = null;
    this.pending = null;
    this.lastPlay = null;
    this.dragging = false;
    this.raf = 0;
    this.width = 0;
    this.view = null; // [from, to] seconds shown; null: the whole video

    const list = document.createElement("datalist");
    list.id = `${this.id}-labels`;
    root.appendChild(list);
    this.labelList = list;
    this.labelInput.setAttribute("list", list.id);
    this.labelInput.setAttribute("aria-label", "Segment label");

    this.dynamic = null;
    this.onKey = this.onKey.bind(this);
    root.addEventListener("keydown", this.onKey);
    root.querySelectorAll("[data-act]").forEach((button) => {
      button.addEventListener("click", (event) => {
        this.act(button.dataset.act);
        // A mouse click hands the keys back to the timeline, so Enter then saves instead of pressing
        // this button again; a button worked from the keyboard (detail 0) keeps the focus.
        if (event.detail > 0) this.svg.focus({ preventScroll: true });
      });
    });
    this.list.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-seg]");
      if (!button) return;
      const seg = this.segment(Number(button.dataset.seg));
      if (!seg) return;
      if (button.dataset.do === "play") this.playRange(seg.start, seg.end);
      else this.select(seg);
    });

    const redraw = () => this.drawDynamic();
    for (const type of ["timeupdate", "seeked", "pause", "loadedmetadata", "durationchange"]) {
      this.video.addEventListener(type, () => {
        if (type === "loadedmetadata" || type === "durationchange") this.drawStatic();
        if (type === "timeupdate") this.checkStop(this.now());
        redraw();
      });
    }
    this.video.addEventListener("play", () => this.loop());
    this.video.addEventListener("loadedmetadata", () => this.report("ready"));
    this.video.addEventListener("error", () => {
      this.say("The video could not be loaded: sign in again or reload the page.", "error");
      this.diagnose();
    });

    this.svg.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.svg.addEventListener("pointermove", (event) => {
      if (this.dragging) this.seek(this.timeAtX(event.clientX));
    });
    const release = () => {
      this.dragging = false;
    };
    this.svg.addEventListener("pointerup", release);
    this.svg.addEventListener("pointercancel", release);

    this.resize = new ResizeObserver(() => {
      if (Math.round(this.svg.clientWidth) !== this.width) {
        this.drawStatic();
        this.drawDynamic();
      }
    });
    this.resize.observe(this.svg);
  }

  destroy() {
    cancelAnimationFrame(this.raf);
    clearTimeout(this.reportTimer);
    clearTimeout(this.viewTimer);
    this.resize.disconnect();
    this.root.removeEventListener("keydown", this.onKey);
    delete this.root.__facsTimeline;
  }

  // --- data from Python -------------------------------------------------------

  // Tell Python whether the timeline works (the page switches to the static strip when it
  // says a failure, or says nothing in time). Sent again while Python has not seen it, e.g.
  // after the page was left and drawn anew; at most every two seconds.
  report(status) {
    if (status) this.status = status;
    if (!this.status || !this.setState || this.data.reported === this.status) return;
    const now = Date.now();
    if (this.reportedAt && now - this.reportedAt < 2000) {
      clearTimeout(this.reportTimer);
      this.reportTimer = setTimeout(() => this.report(), 2000);
      return;
    }
    this.reportedAt = now;
    this.reports = (this.reports || 0) + 1;
    this.root.dataset.reports = String(this.reports);
    this.setState("status", this.status);
  }

  update(data, setTrigger, setState) {
    this.data = data;
    this.setTrigger = setTrigger;
    this.setState = setState;
    this.fps = data.fps || null;
    this.times = this.expand(data.frame_runs);
    this.media = this.times ? this.expand(data.media_runs) : null;
    this.duration = data.duration || (isFinite(this.video.duration) ? this.video.duration : 0);
    if (data.src) {
      this.video.hidden = false;
      this.noVideo.hidden = true;
      if (this.video.getAttribute("src") !== data.src) this.video.setAttribute("src", data.src);
    } else {
      this.video.removeAttribute("src");
      this.video.hidden = true;
      this.noVideo.hidden = false;
    }
    const mayEdit = Boolean(data.may_edit);
    this.root.querySelector(".facs-tl-edit").hidden = !mayEdit;
    this.root.querySelector(".facs-tl-edit").style.display = mayEdit ? "" : "none";
    this.labelList.replaceChildren(
      ...(data.labels || []).map((label) => {
        const option = document.createElement("option");
        option.value = label;
        return option;
      }),
    );
    // The first preset fills an empty field once, on the first render. After a save the label
    // stays: clinicians mark several passages with the same label, one Enter each.
    if (!this.labelOffered && !this.labelInput.value && data.labels && data.labels.length) {
      this.labelInput.value = data.labels[0];
    }
    this.labelOffered = true;

    if (this.pending && data.saved === this.pending) {
      this.pending = null;
      this.clear(false);
      this.say(`Segment saved. The label stays "${this.labelInput.value.trim()}" for the next one.`, "ok");
    } else if (this.pending && data.error && data.error.nonce === this.pending) {
      this.pending = null;
      this.say(`Not saved: ${data.error.message}`, "error");
    }
    if (this.editing) {
      const now = this.segment(this.editing.id);
      if (!now) this.clear(false);
    }
    if (data.play && data.play.nonce !== this.lastPlay) {
      this.lastPlay = data.play.nonce;
      this.playRange(Number(data.play.start), Number(data.play.end));
    }
    this.drawStatic();
    this.drawDynamic();
    this.drawList();
    this.root.dataset.state = "ready";
    if (!data.src) this.report("ready");
    else if (this.video.getAttribute("src") === data.src && this.video.readyState >= 1) this.report("ready");
    else if (this.video.error) this.diagnose();
  }

  // Why the video did not load: the browser gives a failed request and an unplayable file the
  // same error code, so ask the stream itself (HEAD) whether it answers.
  diagnose() {
    const src = this.video.getAttribute("src");
    if (!src) return;
    fetch(src, { method: "HEAD", credentials: "same-origin", cache: "no-store" })
      .then((answer) => this.report(answer.ok ? "video-unsupported" : "video-refused"))
      .catch(() => this.report("video-error"));
  }

  segment(id) {
    return (this.data.segments || []).find((s) => s.id === id) || null;
  }

  // --- time -------------------------------------------------------------------

  // The axis keeps the stored video's clock (its frame table's and segments' times); the player's
  // currentTime is the played file's. They differ where a constant-rate playback copy of a
  // variable-frame-rate video is played: frame i shows at media[i] in the copy, at times[i] on the axis.
  now() {
    return this.data.src ? this.toAxis(this.video.currentTime || 0) : this.cursor;
  }

  // The frame whose span holds t in a list of frame times (the first before the list starts).
  indexIn(list, t) {
    let lo = 0;
    let hi = list.length - 1;
    if (t + 1e-6 < list[0]) return 0;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (list[mid] <= t + 1e-6) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  // Map t from one clock to the other: the same frame, at the same fraction of its span, kept
  // `margin` inside that span (on the far side of the span the fraction is not clamped).
  mapTime(t, from, to, margin = 0) {
    const i = Math.min(this.indexIn(from, t), to.length - 1);
    const spanFrom = i + 1 < from.length ? from[i + 1] - from[i] : 0;
    const spanTo = i + 1 < to.length ? to[i + 1] - to[i] : 0;
    const rate = spanFrom > 0 && spanTo > 0 ? spanTo / spanFrom : 1;
    let offset = (t - from[i]) * rate;
    if (spanTo > 0 && offset >= 0 && offset < spanTo) {
      const keep = Math.min(margin, spanTo / 4);
      offset = Math.max(keep, Math.min(spanTo - keep, offset));
    }
    return Math.max(0, to[i] + offset);
  }

  toAxis(mediaTime) {
    return this.media ? this.mapTime(mediaTime, this.media, this.times) : mediaTime;
  }

  // The played file's frame times come as runs, each time within a millisecond of the true one
  // (FRAME_TOLERANCE_S in Python): a seek lands two milliseconds inside the frame, so the player
  // shows that frame and not a neighbour.
  toMedia(t) {
    return this.media ? this.mapTime(t, this.times, this.media, MEDIA_MARGIN) : t;
  }

  // Frames are known by their real times (sent by Python, from the file's sample tables or the
  // decoder: a variable-frame-rate video's frames are unevenly spaced) or else every 1 / fps.
  framed() {
    return Boolean(this.times || this.fps);
  }

  // The frame on screen at t: the last one shown at or before t.
  frameAt(t) {
    if (!this.times) return Math.max(0, Math.floor(t * this.fps + 1e-6));
    return this.indexIn(this.times, t);
  }

  frameStart(index) {
    if (!this.times) return index / this.fps;
    return this.times[Math.max(0, Math.min(this.times.length - 1, index))];
  }

  frameEnd(index) {
    const end = !this.times
      ? (index + 1) / this.fps
      : index + 1 < this.times.length
        ? this.times[index + 1]
        : this.duration || this.times[this.times.length - 1];
    return this.duration ? Math.min(this.duration, end) : end;
  }

  // In at the start of the frame on screen, out at its end: the segment holds what was seen.
  snapIn(t) {
    return this.framed() ? this.frameStart(this.frameAt(t)) : t;
  }

  snapOut(t) {
    return this.framed() ? this.frameEnd(this.frameAt(t)) : t;
  }

  // Expand Python's runs [first, step, count] into one time per frame.
  expand(runs) {
    if (!runs || !runs.length) return null;
    const total = runs.reduce((sum, run) => sum + run[2], 0);
    const times = new Float64Array(total);
    let k = 0;
    for (const [first, step, count] of runs) {
      for (let i = 0; i < count; i++) times[k++] = first + i * step;
    }
    return times;
  }

  fmt(t) {
    if (t === null || t === undefined || !isFinite(t)) return "–";
    if (this.duration < 60) return `${t.toFixed(2)} s`;
    const minutes = Math.floor(t / 60);
    const seconds = t - minutes * 60;
    return `${minutes}:${seconds.toFixed(2).padStart(5, "0")}`;
  }

  seek(t, keepStop = false) {
    const clamped = Math.max(0, Math.min(this.duration || 0, t));
    if (!keepStop) this.stopAt = null;
    if (this.data.src) this.video.currentTime = this.toMedia(clamped);
    else this.cursor = clamped;
    this.drawDynamic();
  }

  step(frames) {
    this.video.pause();
    const t = this.now();
    if (this.framed()) this.seek(this.frameStart(this.frameAt(t) + frames) + EPS);
    else this.seek(t + frames * 0.04);
  }

  toggle() {
    if (!this.data.src) return;
    if (this.video.paused) this.start();
    else this.video.pause();
  }

  start() {
    const played = this.video.play();
    if (played && played.catch) {
      played.catch(() => this.say("The browser did not start playback: press Play.", "error"));
    }
  }

  playRange(start, end) {
    if (!this.data.src || !(end > start)) return;
    this.seek(start + (this.framed() ? EPS : 0));
    this.stopAt = end;
    this.start();
  }

  // Pause on the segment's last frame: before the next frame would show, then seek to
  // just inside the end so the last frame of the segment stays on screen.
  checkStop(t, lookahead = 0) {
    if (this.stopAt === null) return;
    // Half the last frame before the end: its successor would show after that.
    const lead = this.framed() ? 0.5 * (this.stopAt - this.frameStart(this.frameAt(this.stopAt - 1e-6))) : 0.02;
    if (t + lookahead >= this.stopAt - lead) {
      const end = this.stopAt;
      this.stopAt = null;
      this.video.pause();
      this.video.currentTime = this.toMedia(Math.max(0, end - EPS));
    }
  }

  loop() {
    cancelAnimationFrame(this.raf);
    const frame = () => {
      this.checkStop(this.now());
      this.drawDynamic();
      if (!this.video.paused) this.raf = requestAnimationFrame(frame);
    };
    this.raf = requestAnimationFrame(frame);
    if (this.video.requestVideoFrameCallback) {
      const onFrame = (_now, meta) => {
        if (this.video.paused) return;
        // The frame now shown is the last inside the segment when the next one starts at its end.
        const t = this.toAxis(meta.mediaTime);
        const shown = this.frameAt(t);
        this.checkStop(t, this.framed() ? this.frameEnd(shown) - this.frameStart(shown) : 0);
        this.video.requestVideoFrameCallback(onFrame);
      };
      this.video.requestVideoFrameCallback(onFrame);
    }
  }

  // --- marking ----------------------------------------------------------------

  say(text, kind = "info") {
    this.msg.textContent = text;
    this.msg.dataset.kind = kind;
  }

  setIn() {
    const t = this.now();
    this.inT = this.snapIn(t);
    this.root.dataset.inPlayhead = String(t);
    if (this.outT !== null && this.outT <= this.inT) this.outT = null;
    this.say("");
    this.drawDynamic();
  }

  setOut() {
    const t = this.now();
    const out = this.snapOut(t);
    if (this.inT !== null && out <= this.inT) {
      this.say("The out point must come after the in point.", "error");
      return;
    }
    this.outT = out;
    this.root.dataset.outPlayhead = String(t);
    this.say("");
    this.drawDynamic();
  }

  select(seg) {
    if (!this.data.may_edit) {
      this.seek(seg.start + (this.framed() ? EPS : 0));
      return;
    }
    this.editing = seg;
    this.inT = seg.start;
    this.outT = seg.end;
    this.labelInput.value = seg.label;
    this.seek(seg.start + (this.framed() ? EPS : 0));
    this.say(`Editing segment "${seg.label}" (${seg.span}): I and O move its ends, Enter saves, Esc leaves it.`);
    this.drawStatic();
  }

  clear(speak = true) {
    this.inT = null;
    this.outT = null;
    const wasEditing = this.editing !== null;
    this.editing = null;
    delete this.root.dataset.inPlayhead;
    delete this.root.dataset.outPlayhead;
    if (speak) this.say("");
    if (wasEditing) this.drawStatic();
    this.drawDynamic();
  }

  save() {
    if (!this.data.may_edit) return;
    if (this.inT === null || this.outT === null) {
      this.say("Set the in point (I) and the out point (O) first.", "error");
      return;
    }
    const label = this.labelInput.value.trim();
    if (!label) {
      this.say("Type a label for the segment.", "error");
      this.labelInput.focus();
      return;
    }
    this.pending = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    this.say("Saving…");
    this.setTrigger("save", {
      start: this.inT,
      end: this.outT,
      label,
      segment_id: this.editing ? this.editing.id : null,
      revision: this.editing ? this.editing.revision : null,
      nonce: this.pending,
    });
  }

  act(name) {
    const actions = {
      play: () => this.toggle(),
      prev: () => this.step(-1),
      next: () => this.step(1),
      in: () => this.setIn(),
      out: () => this.setOut(),
      save: () => this.save(),
      playsel: () => {
        if (this.inT !== null && this.outT !== null) this.playRange(this.inT, this.outT);
        else this.say("Set the in point (I) and the out point (O) first.", "error");
      },
      clear: () => this.clear(),
      zoomin: () => this.zoom(2),
      zoomout: () => this.zoom(0.5),
      whole: () => this.zoom(0),
    };
    if (actions[name]) actions[name]();
  }

  onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = target.tagName;
    const key = event.key;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") {
      if (key === "Enter") {
        event.preventDefault();
        this.save();
      }
      return;
    }
    // Buttons act on Enter and Space themselves; the video's own controls handle theirs.
    if (tag === "BUTTON" && (key === "Enter" || key === " ")) return;
    if (tag === "VIDEO" && (key === " " || key.startsWith("Arrow"))) return;
    const editing = Boolean(this.data.may_edit);
    const handlers = {
      " ": () => this.toggle(),
      k: () => this.toggle(),
      ArrowLeft: () => (event.shiftKey ? this.seek(this.now() - 1) : this.step(-1)),
      ArrowRight: () => (event.shiftKey ? this.seek(this.now() + 1) : this.step(1)),
      Home: () => this.seek(0),
      End: () => this.seek(this.duration),
      i: editing ? () => this.setIn() : null,
      o: editing ? () => this.setOut() : null,
      p: () => this.act("playsel"),
      Enter: editing ? () => this.save() : null,
      Escape: () => this.clear(),
      "+": () => this.zoom(2),
      "=": () => this.zoom(2),
      "-": () => this.zoom(0.5),
      0: () => this.zoom(0),
    };
    const handler = handlers[key.length === 1 ? key.toLowerCase() : key];
    if (!handler) return;
    event.preventDefault();
    event.stopPropagation();
    handler();
  }

  // --- pointer ----------------------------------------------------------------

  shown() {
    return this.view || [0, this.duration || 1];
  }

  scale() {
    const span = Math.max(1, this.width - GUTTER - PAD_RIGHT);
    const [from, to] = this.shown();
    const length = Math.max(1e-6, to - from);
    return { x: (t) => GUTTER + ((t - from) / length) * span, t: (x) => from + ((x - GUTTER) / span) * length };
  }

  // Ask Python for the frames of the window shown (it sends them at full resolution);
  // once the zooming has settled, so a run of + presses is one request.
  sendView() {
    clearTimeout(this.viewTimer);
    this.viewTimer = setTimeout(() => {
      // Whole video again: the overview is drawn; the last window's frames may stay.
      if (!this.setState || !this.view) return;
      // Milliseconds, rounded outwards so the frames sent cover the window shown.
      const view = [Math.floor(this.view[0] * 1000) / 1000, Math.ceil(this.view[1] * 1000) / 1000];
      const sent = this.data.window;
      if (sent && sent[0] <= view[0] && sent[1] >= view[1] && sent[1] - sent[0] <= 1.01 * (view[1] - view[0])) return;
      this.setState("view", view);
    }, 300);
  }

  // Zoom by `factor` around the playhead (at least ten frames or a second shown); 0 shows the whole video.
  zoom(factor) {
    const duration = this.duration || 0;
    if (!factor || !duration) {
      this.view = null;
    } else {
      const [from, to] = this.shown();
      const least = this.times ? (10 * duration) / this.times.length : this.fps ? 10 / this.fps : 1;
      const length = Math.min(duration, Math.max(least, (to - from) / factor));
      if (length >= duration) {
        this.view = null;
      } else {
        const t = this.now();
        const start = Math.max(0, Math.min(duration - length, t - length / 2));
        this.view = [start, start + length];
      }
    }
    this.drawStatic();
    this.drawDynamic();
    this.sendView();
  }

  // While playing, turn the page when the playhead leaves the window shown.
  follow(t) {
    if (!this.view) return;
    const [from, to] = this.view;
    if (t >= from && t <= to) return;
    const length = to - from;
    const start = Math.max(0, Math.min(this.duration - length, t - length * 0.1));
    this.view = [start, start + length];
    this.drawStatic();
    this.sendView();
  }

  timeAtX(clientX) {
    const box = this.svg.getBoundingClientRect();
    const x = ((clientX - box.left) * this.width) / Math.max(1, box.width);
    return Math.max(0, Math.min(this.duration, this.scale().t(x)));
  }

  pointerDown(event) {
    if (event.button !== 0) return;
    this.svg.focus({ preventScroll: true });
    const band = event.target.closest(".facs-tl-seg");
    if (band) {
      const seg = this.segment(Number(band.dataset.id));
      if (seg) this.select(seg);
      return;
    }
    this.svg.setPointerCapture(event.pointerId);
    this.dragging = true;
    this.seek(this.timeAtX(event.clientX));
  }

  // --- drawing ----------------------------------------------------------------

  drawStatic() {
    const svg = this.svg;
    // At least the gutter and one pixel of plot: a reflowing page can report a sliver of width.
    this.width = Math.max(GUTTER + PAD_RIGHT + 1, Math.round(svg.clientWidth) || 800);
    const width = this.width;
    svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    svg.setAttribute("height", String(HEIGHT));
    svg.replaceChildren();
    const { x } = this.scale();
    const right = width - PAD_RIGHT;
    const [from, to] = this.shown();
    // Zoomed in, the frames of the window at full resolution once Python has sent them;
    // until then (and for the whole video) the binned overview.
    const detail = this.data.detail;
    const sharp = Boolean(this.view && detail && detail.from <= from + 1e-6 && detail.to >= to - 1e-6);
    if (this.view && !sharp) this.sendView();
    const traces = (sharp ? detail : this.data.traces) || { t: [], aus: {} };
    const names = Object.keys(traces.aus || {});
    this.root.dataset.traces = sharp ? "window" : "overview";
    this.root.dataset.view = `${from},${to}`;

    // Trace area: a frame, grid lines at 0, 0.5 and 1, one line per AU.
    const y = (v) => TRACE_TOP + (1 - v) * TRACE_HEIGHT;
    const clip = `${this.id}-clip`;
    const defs = svgEl("defs", {}, svg);
    svgEl("rect", { x: GUTTER, y: 0, width: span(GUTTER, right), height: AXIS_TOP }, svgEl("clipPath", { id: clip }, defs));
    // Row names stay in the gutter, cut there if a large font makes one wider: bands and their
    // labels start at the gutter's edge (a segment begun before the window shown, at its left edge).
    const gutter = `${this.id}-gutter`;
    svgEl("rect", { x: 0, y: 0, width: GUTTER - 4, height: HEIGHT }, svgEl("clipPath", { id: gutter }, defs));
    const inside = (start, end) => end >= from && start <= to;
    svgEl("rect", { x: GUTTER, y: TRACE_TOP, width: span(GUTTER, right), height: TRACE_HEIGHT, fill: "#fafafa", stroke: "#ddd" }, svg);
    for (const v of [0, 0.5, 1]) {
      svgEl("line", { x1: GUTTER, x2: right, y1: y(v), y2: y(v), stroke: "#e4e4e4" }, svg);
      const tick = svgEl("text", { x: GUTTER - 4, y: y(v) + 4, "text-anchor": "end" }, svg);
      tick.textContent = String(v);
    }
    const traceName = svgEl("text", { x: 4, y: TRACE_TOP + 14, class: "facs-tl-rowname", "clip-path": `url(#${gutter})` }, svg);
    traceName.textContent = "AU value";
    names.forEach((name, index) => {
      const values = traces.aus[name];
      let d = "";
      let pen = false;
      let shown = 0;
      for (let i = 0; i < traces.t.length; i++) {
        // One point either side of the window, so lines run to its edges.
        if (traces.t[Math.min(i + 1, traces.t.length - 1)] < from || traces.t[Math.max(i - 1, 0)] > to) continue;
        if (traces.t[i] >= from && traces.t[i] <= to) shown += 1;
        const v = values[i];
        if (v === null || v === undefined) {
          pen = false;
          continue;
        }
        d += `${pen ? "L" : "M"}${x(traces.t[i]).toFixed(1)},${y(Math.max(0, Math.min(1, v))).toFixed(1)}`;
        pen = true;
      }
      svgEl(
        "path",
        {
          d,
          fill: "none",
          stroke: AU_COLOURS[index % AU_COLOURS.length],
          "stroke-width": 1.3,
          "data-au": name,
          "data-points": shown,
          "clip-path": `url(#${clip})`,
        },
        svg,
      );
    });
    if (!traces.t.length) {
      const note = svgEl("text", { x: GUTTER + 10, y: TRACE_TOP + TRACE_HEIGHT / 2 }, svg);
      note.textContent = "Not extracted yet: AU traces and face rows appear here after extraction.";
    } else if (!names.length) {
      const note = svgEl("text", { x: GUTTER + 10, y: TRACE_TOP + TRACE_HEIGHT / 2 }, svg);
      note.textContent = "Choose AUs above to draw their traces.";
    }
    const legend = names.map((name, index) => {
      const item = document.createElement("span");
      item.textContent = name;
      item.style.setProperty("--swatch", AU_COLOURS[index % AU_COLOURS.length]);
      return item;
    });
    if (((this.data.rows || {}).unanalysed || []).length) {
      const item = document.createElement("span");
      item.textContent = "hatched: not analysed (lines break there)";
      item.className = "facs-tl-unanalysed";
      legend.push(item);
    }
    this.legend.replaceChildren(...legend);

    // One row per face state: distinct bands, each named at the left.
    const rows = this.data.rows || {};
    for (const row of ROWS) {
      svgEl("rect", { x: GUTTER, y: row.top, width: span(GUTTER, right), height: row.height, fill: "#f4f4f4" }, svg);
      const name = svgEl("text", { x: 4, y: row.top + row.height - 2, class: "facs-tl-rowname", "clip-path": `url(#${gutter})` }, svg);
      name.textContent = row.name;
      for (const [start, end] of rows[row.key] || []) {
        if (!inside(start, end)) continue;
        const w = span(x(start), x(end), 1);
        const band = svgEl(
          "rect",
          { x: x(start), y: row.top, width: w, height: row.height, fill: row.colour, "data-row": row.key, "clip-path": `url(#${clip})` },
          svg,
        );
        svgEl("title", {}, band).textContent = `${row.name}: ${this.fmt(start)} to ${this.fmt(end)}`;
      }
    }

    // Time no frame was analysed in (between the segments of a segment-only run, missing
    // frames): hatched across the face rows, so it never reads as a face state.
    const unanalysed = (rows.unanalysed || []).filter(([start, end]) => inside(start, end));
    if (unanalysed.length) {
      const hatch = `${this.id}-hatch`;
      const pattern = svgEl("pattern", { id: hatch, width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
      svgEl("rect", { width: 6, height: 6, fill: "#ffffff" }, pattern);
      svgEl("line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#b8b8b8", "stroke-width": 2 }, pattern);
      const top = ROWS[0].top;
      const bottom = ROWS[ROWS.length - 1].top + ROWS[ROWS.length - 1].height;
      for (const [start, end] of unanalysed) {
        const band = svgEl(
          "rect",
          { x: x(start), y: top, width: span(x(start), x(end)), height: bottom - top, fill: `url(#${hatch})`, "data-row": "unanalysed", "clip-path": `url(#${clip})` },
          svg,
        );
        svgEl("title", {}, band).textContent = `not analysed: ${this.fmt(start)} to ${this.fmt(end)} (no AU values, no face state)`;
      }
    }

    // Segments: labelled bands, clickable to select (and edit) one.
    svgEl("rect", { x: GUTTER, y: SEG_ROW.top, width: span(GUTTER, right), height: SEG_ROW.height, fill: "#f4f4f4" }, svg);
    const segName = svgEl("text", { x: 4, y: SEG_ROW.top + 16, class: "facs-tl-rowname", "clip-path": `url(#${gutter})` }, svg);
    segName.textContent = SEG_ROW.name;
    for (const seg of this.data.segments || []) {
      if (!inside(seg.start, seg.end)) continue;
      // Drawn within the window, so its label starts where it is seen.
      const left = Math.max(GUTTER, x(seg.start));
      const w = span(left, Math.min(right, x(seg.end)), 2);
      const selected = this.editing && this.editing.id === seg.id;
      const band = svgEl(
        "rect",
        {
          x: left,
          y: SEG_ROW.top,
          width: w,
          height: SEG_ROW.height,
          rx: 3,
          fill: "#c39bd3",
          class: "facs-tl-seg",
          "data-id": seg.id,
          "data-selected": selected ? "true" : "false",
        },
        svg,
      );
      svgEl("title", {}, band).textContent = `${seg.label} (${seg.span}); click to select`;
      // The label inside its band, shortened to fit; the list below has it in full.
      if (w >= 14) {
        const label = svgEl("text", { x: left + 4, y: SEG_ROW.top + 16, class: "facs-tl-seglabel" }, svg);
        label.textContent = seg.label;
        let kept = seg.label.length;
        while (kept > 1 && label.getComputedTextLength() > w - 8) {
          kept -= 1;
          label.textContent = `${seg.label.slice(0, kept)}…`;
        }
      }
    }

    // Time axis.
    const duration = this.duration || 0;
    const usable = Math.max(1, right - GUTTER);
    const step = TICK_STEPS.find((s) => (to - from) / s <= usable / 70) || 3600;
    svgEl("line", { x1: GUTTER, x2: right, y1: AXIS_TOP, y2: AXIS_TOP, stroke: "#888" }, svg);
    for (let t = Math.ceil(from / step - 1e-9) * step; t <= to + 1e-9; t += step) {
      svgEl("line", { x1: x(t), x2: x(t), y1: AXIS_TOP, y2: AXIS_TOP + 4, stroke: "#888" }, svg);
      const label = svgEl("text", { x: x(t), y: AXIS_TOP + 16, "text-anchor": "middle" }, svg);
      label.textContent = duration < 60 ? `${+t.toFixed(1)}` : this.fmt(+t.toFixed(1)).replace(/\.00$/, "");
    }
    const unit = svgEl("text", { x: 4, y: AXIS_TOP + 16, class: "facs-tl-rowname", "clip-path": `url(#${gutter})` }, svg);
    unit.textContent = duration < 60 ? "time (s)" : "time (m:s)";
    this.zoomOut.textContent = this.view ? `${this.fmt(from)} to ${this.fmt(to)} shown` : "whole video shown";

    this.dynamic = svgEl("g", { "pointer-events": "none" }, svg);
    this.svg.setAttribute("aria-valuemax", String(duration));
  }

  drawDynamic() {
    if (!this.dynamic) return;
    const t = this.now();
    this.follow(t);
    const { x } = this.scale();
    const g = this.dynamic;
    g.replaceChildren();
    const bottom = SEG_ROW.top + SEG_ROW.height;
    if (this.inT !== null || this.outT !== null) {
      const a = this.inT !== null ? this.inT : this.outT;
      const b = this.outT !== null ? this.outT : this.inT;
      if (b > a) svgEl("rect", { x: x(a), y: 0, width: span(x(a), x(b), 1), height: bottom, fill: "rgba(28,109,208,0.14)" }, g);
      for (const [edge, name] of [
        [this.inT, "in"],
        [this.outT, "out"],
      ]) {
        if (edge === null) continue;
        svgEl("line", { x1: x(edge), x2: x(edge), y1: 0, y2: bottom, stroke: "#1c6dd0", "stroke-width": 2, "stroke-dasharray": "4 2" }, g);
        const tag = svgEl("text", { x: x(edge) + (name === "in" ? 3 : -3), y: 10, "text-anchor": name === "in" ? "start" : "end", fill: "#1c6dd0" }, g);
        tag.textContent = name;
      }
    }
    svgEl("line", { x1: x(t), x2: x(t), y1: 0, y2: AXIS_TOP, stroke: "#d62728", "stroke-width": 2, class: "facs-tl-playhead" }, g);
    svgEl("path", { d: `M${x(t) - 5},0 L${x(t) + 5},0 L${x(t)},7 Z`, fill: "#d62728" }, g);

    const frame = this.framed() ? ` · frame ${this.frameAt(t)}` : "";
    this.timeOut.textContent = `${this.fmt(t)}${frame}`;
    this.svg.setAttribute("aria-valuenow", t.toFixed(3));
    this.svg.setAttribute("aria-valuetext", `${this.fmt(t)}${frame}`);
    this.playButton.textContent = this.data.src && !this.video.paused ? "Pause" : "Play";
    this.root.dataset.playhead = String(t);
    if (this.inT !== null) this.root.dataset.in = String(this.inT);
    else delete this.root.dataset.in;
    if (this.outT !== null) this.root.dataset.out = String(this.outT);
    else delete this.root.dataset.out;
    const what = this.editing ? `Editing "${this.editing.label}": ` : "";
    const length = this.inT !== null && this.outT !== null ? ` · length ${(this.outT - this.inT).toFixed(2)} s` : "";
    this.selOut.textContent = this.data.may_edit
      ? `${what}in ${this.inT === null ? "– (press I)" : this.fmt(this.inT)} · out ${this.outT === null ? "– (press O)" : this.fmt(this.outT)}${length}`
      : "";
  }

  drawList() {
    const items = (this.data.segments || []).map((seg) => {
      const li = document.createElement("li");
      const text = document.createElement("span");
      text.textContent = `${seg.label} · ${seg.span}`;
      li.appendChild(text);
      const play = document.createElement("button");
      play.type = "button";
      play.textContent = "Play";
      play.dataset.seg = String(seg.id);
      play.dataset.do = "play";
      play.setAttribute("aria-label", `Play segment ${seg.label}, ${seg.span}`);
      li.appendChild(play);
      if (this.data.may_edit) {
        const edit = document.createElement("button");
        edit.type = "button";
        edit.textContent = "Select";
        edit.dataset.seg = String(seg.id);
        edit.dataset.do = "select";
        edit.setAttribute("aria-label", `Select segment ${seg.label}, ${seg.span}, to change its ends`);
        li.appendChild(edit);
      }
      return li;
    });
    this.list.replaceChildren(...items);
    this.list.hidden = items.length === 0;
  }
}

export default function (component) {
  const { data, parentElement, setTriggerValue, setStateValue } = component;
  const root = parentElement.querySelector(".facs-tl");
  if (!root) return undefined;
  let timeline = root.__facsTimeline;
  if (!timeline) {
    timeline = new Timeline(root);
    root.__facsTimeline = timeline;
  }
  timeline.update(data || {}, setTriggerValue, setStateValue);
  return () => timeline.destroy();
}
