// The AOI editor on a video's page: the image editor (aoi-editor.js) drawing over the video,
// in the video's display pixels, with a time window per AOI ([start, end) in seconds, either
// end open). Drawing with the mouse is a mode: outside it the player's own controls take the
// clicks. Shares per window (first 3 s, first 5 s, whole) are read back after each save.
// A kept face or text block follows its track (aoi-track.js): it is drawn where it is at the
// frame shown, and moving or resizing it there moves or resizes the whole track.

import { AoiEditor } from "./aoi-editor.js";
import { deleteCell, el, fmtPct, nameCell } from "./aoi-table.js";
import { boxAt, copyTrack, meanBox, shiftTrack, trackPayload } from "./aoi-track.js";

const pct1 = (v) => (v == null ? "…" : `${(v * 100).toFixed(1)}%`); // as the pct filter
const secs = (v) => (v == null || Number.isNaN(v) ? "" : String(Math.round(v * 100) / 100));
// A "now" read at the last frame may be a hair past the duration the server probed.
const END_SLACK_S = 0.05;

export class VideoAoiEditor extends AoiEditor {
  configure(data) {
    this.duration = Number(data.duration_s) || 0;
    this.video = this.root.querySelector("video.video-original");
    this.sharesBody = this.root.querySelector(".video-aoi-table tbody");
    this.specs = this.root.querySelector(".aoi-specs");
    this.drawToggle = this.root.querySelector(".aoi-draw");
    this.frameInput = this.root.querySelector(".aoi-frame-time");
    this.frameOut = this.root.querySelector(".aoi-frame-time-value");
    this.staleNote = this.root.querySelector(".shares-stale");
    this.autoTracks = data.auto_tracks || {};
    this.width = data.width; // set before the AOIs are read: a track is placed in the frame
    this.height = data.height;
    // The shares table and the specs show what the server holds, not the edits on their way.
    this.saved = (data.aois || []).map((a) => this.fromData(a));
    this.savedShares = new Map((data.attention || []).map((s) => [s.name, s]));
  }

  fromData(a) {
    return this.place({ ...super.fromData(a), start_s: a.start_s ?? null, end_s: a.end_s ?? null, track: copyTrack(a.track) });
  }

  // A tracked AOI is sent with its track and, as its one box, the keyframes' mean.
  toPayload(a) {
    const p = super.toPayload(a.track ? { ...a, ...meanBox(a.track, this.width, this.height) } : a);
    if (a.start_s != null) p.start_s = a.start_s;
    if (a.end_s != null) p.end_s = a.end_s;
    if (a.track) p.track = trackPayload(a.track);
    return p;
  }

  // A detected element keeps the span it was seen in (its end is never past the video's) and
  // its track, when the analysis has one.
  fromKept(d) {
    const time = (v) => (v === undefined || v === "" ? null : Number(v));
    const end = time(d.end);
    const span = { start_s: time(d.start), end_s: end == null ? null : Math.min(end, this.duration) };
    return { ...super.fromKept(d), ...span, track: copyTrack(this.autoTracks[d.name]) };
  }

  clampKept(a) {
    return a.track ? this.place(a) : super.clampKept(a);
  }

  // A tracked AOI's box (x, y, w, h) is where its track is at the time shown.
  place(a, t = this.video.currentTime || 0) {
    if (!a.track) return a;
    Object.assign(a, boxAt(a.track, t));
    a.shown = { x: a.x, y: a.y, w: a.w, h: a.h };
    return a;
  }

  // What the mouse or the keys did to a tracked box shown, done to its whole track.
  followEdits(a) {
    if (!a.track || !a.shown) return;
    const d = { x: a.x - a.shown.x, y: a.y - a.shown.y, w: a.w - a.shown.w, h: a.h - a.shown.h };
    if (!d.x && !d.y && !d.w && !d.h) return;
    a.track = shiftTrack(a.track, d, this.width, this.height); // a new array: the saved copy keeps the old
    this.place(a);
  }

  changed() {
    for (const a of this.aois) this.followEdits(a);
    super.changed();
  }

  keep(d) {
    const a = super.keep(d);
    if (a.start_s != null) this.seek(a.start_s); // show the frame it appears on
    return a;
  }

  now() {
    return Math.round((this.video.currentTime || 0) * 100) / 100;
  }

  isActive(a) {
    const t = this.video.currentTime || 0;
    return (a.start_s == null || t >= a.start_s) && (a.end_s == null || t < a.end_s);
  }

  shareText(s) {
    return fmtPct(s.whole);
  }

  // [field, message] for an AOI whose time window cannot be saved, else null.
  windowProblem(a) {
    const d = this.duration;
    const { start_s: s, end_s: e } = a;
    if (Number.isNaN(s) || (s != null && s < 0)) return ["start", `the start of ${a.name} must be a number of seconds, 0 or more`];
    if (Number.isNaN(e) || (e != null && e <= 0)) return ["end", `the end of ${a.name} must be a number of seconds above 0`];
    if (s != null && d && s >= d) return ["start", `${a.name} starts at ${secs(s)} s, at or after the end of the video (${secs(d)} s)`];
    if (e != null && d && e > d + END_SLACK_S) return ["end", `${a.name} ends at ${secs(e)} s, after the end of the video (${secs(d)} s)`];
    if (s != null && e != null && e <= s) return ["end", `the end of ${a.name} (${secs(e)} s) must be after its start (${secs(s)} s)`];
    return null;
  }

  problem() {
    for (const a of this.aois) {
      const p = this.windowProblem(a);
      if (p) return p[1];
    }
    return null;
  }

  whenText(a) {
    if (a.start_s == null && a.end_s == null) return "";
    return `${secs(a.start_s ?? 0)}–${secs(a.end_s ?? this.duration)} s`;
  }

  // --- events ---------------------------------------------------------------------------
  bind() {
    super.bind();
    if (this.drawToggle) {
      this.drawToggle.addEventListener("click", () => this.setDrawing(this.drawToggle.getAttribute("aria-pressed") !== "true"));
    }
    if (this.frameInput) this.frameInput.addEventListener("input", () => this.seek(Number(this.frameInput.value)));
    for (const ev of ["timeupdate", "seeked", "loadedmetadata"]) this.video.addEventListener(ev, () => this.followTime());
    this.video.addEventListener("play", () => this.setDrawing(false));
  }

  setDrawing(on) {
    this.canvas.classList.toggle("drawing", on);
    if (this.drawToggle) this.drawToggle.setAttribute("aria-pressed", String(on));
    if (on) {
      this.video.pause();
      this.canvas.focus({ preventScroll: true });
    }
  }

  seek(t) {
    const v = this.video;
    if (v.readyState === 0) v.preload = "auto"; // nothing loaded yet (preload="none"): start now
    v.currentTime = Math.min(Math.max(0, t), Math.max(0, this.duration - 0.01));
    this.followTime(v.currentTime);
  }

  followTime(at) {
    const t = at ?? this.video.currentTime ?? 0;
    if (this.frameInput && document.activeElement !== this.frameInput) this.frameInput.value = String(t);
    if (this.frameOut) this.frameOut.textContent = `${t.toFixed(1)} s`;
    if (!this.drag) {
      for (const a of this.aois) this.place(a, t);
      if (this.aois[this.selected]?.track) this.announceSelection();
    }
    this.draw();
  }

  onKey(ev) {
    const i = this.selected;
    if (i >= 0 && (ev.key === "[" || ev.key === "]")) {
      ev.preventDefault();
      this.setTime(i, ev.key === "[" ? "start_s" : "end_s", this.now());
      return;
    }
    super.onKey(ev);
  }

  setTime(i, key, value) {
    const a = this.aois[i];
    if (!a) return;
    a[key] = value;
    const input = this.tbody.querySelector(`tr[data-index="${i}"] input[data-role="${key === "start_s" ? "start" : "end"}"]`);
    if (input && document.activeElement !== input) input.value = secs(value);
    this.announceSelection();
    this.scheduleSave(); // the editing table stays as it is: focus stays where the user is
  }

  select(i) {
    super.select(i);
    this.announceSelection();
  }

  announceSelection() {
    const a = this.aois[this.selected];
    this.canvas.setAttribute(
      "aria-label",
      a
        ? `AOI editor: ${a.name} selected at ${Math.round(a.x)}, ${Math.round(a.y)}, ${Math.round(a.w)} by ${Math.round(a.h)} pixels, ${this.whenText(a) || "the whole video"}. Arrows move it, [ and ] set its start and end to the current time, Delete removes it, Tab selects the next.`
        : "AOI editor over the video: Draw on the frame lets the mouse draw an area of interest; Tab selects the AOIs.",
    );
  }

  // --- rendering ------------------------------------------------------------------------
  rowCells(a, i) {
    return [nameCell(this, a, i), this.timeCell(a, i, "start"), this.timeCell(a, i, "end"), deleteCell(this, a, i)];
  }

  timeCell(a, i, which) {
    const key = which === "start" ? "start_s" : "end_s";
    const input = el("input", {
      type: "number",
      min: "0",
      max: secs(this.duration),
      step: "0.1",
      value: secs(a[key]),
      placeholder: which === "start" ? "0" : secs(this.duration),
      aria: { label: `${which === "start" ? "Start" : "End"} of AOI ${a.name}, seconds` },
      data: { role: which },
    });
    input.addEventListener("focus", () => this.select(i));
    input.addEventListener("change", () => {
      const v = input.validity.badInput ? NaN : input.value.trim() === "" ? null : Number(input.value);
      this.setTime(i, key, v);
    });
    const now = el("button", {
      type: "button",
      className: "aoi-now",
      textContent: "Now",
      title: `Set the ${which} to the current playback time`,
      aria: { label: `Now: set the ${which} of AOI ${a.name} to the current time` },
      data: { role: `${which}-now` },
    });
    now.addEventListener("click", () => {
      this.select(i);
      this.setTime(i, key, this.now());
    });
    return el("td", { className: "aoi-when" }, input, now);
  }

  renderTable() {
    super.renderTable();
    this.afterShares();
  }

  showShares() {
    // What was sent is what is here (a later change would have superseded this answer).
    this.saved = this.aois.map((a) => ({ ...a }));
    this.savedShares = new Map(this.shares);
    this.afterShares(); // the editing table holds no shares: left as is, focus and typing kept
  }

  afterShares() {
    this.markInvalid();
    this.renderShares();
    this.renderSpecs();
    const saved = JSON.stringify(this.saved.map((a) => this.toPayload(a)));
    const stale = saved !== JSON.stringify(this.payload().aois);
    if (this.sharesBody) this.sharesBody.closest("table").classList.toggle("stale", stale);
    if (this.staleNote) this.staleNote.hidden = !stale || this.saved.length === 0;
  }

  markInvalid() {
    for (const tr of this.tbody.querySelectorAll("tr")) {
      const p = this.windowProblem(this.aois[Number(tr.dataset.index)] || {});
      for (const role of ["start", "end"]) {
        const input = tr.querySelector(`input[data-role="${role}"]`);
        if (!input) continue;
        if (p && p[0] === role) input.setAttribute("aria-invalid", "true");
        else input.removeAttribute("aria-invalid");
      }
    }
  }

  renderShares() {
    if (!this.sharesBody) return;
    const rows = this.saved.map((a) => {
      const s = this.savedShares.get(a.name) || {};
      const th = el("th", { scope: "row" }, a.name);
      const when = this.whenText(a);
      if (when) th.append(" ", el("span", { className: "muted small", textContent: when }));
      const cells = [s.first_3s, s.first_5s, s.whole, s.area_fraction].map((v) => el("td", { className: "num", textContent: pct1(v) }));
      return el("tr", { data: { name: a.name } }, th, ...cells);
    });
    this.sharesBody.replaceChildren(...rows);
    this.sharesBody.closest("table").hidden = rows.length === 0;
    const none = this.root.querySelector(".video-aoi-none");
    if (none) none.hidden = rows.length > 0;
  }

  // The CLI's NAME=x,y,w,h[@start-end] form of what is saved, as the server writes it.
  renderSpecs() {
    if (!this.specs) return;
    const items = this.saved.map((a) => {
      const p = this.toPayload(a);
      const box = [p.x, p.y, p.w, p.h].map((v) => String(Math.round(v))).join(",");
      const timed = a.start_s != null || a.end_s != null;
      const spec = timed ? `${a.name}=${box}@${secs(a.start_s ?? 0)}-${secs(a.end_s ?? this.duration)}` : `${a.name}=${box}`;
      const li = el("li", {}, el("code", { textContent: spec }));
      const moves = a.track ? `follows its track (${a.track.length} keyframes; the box is their mean)` : "";
      if (timed) {
        const until = a.end_s != null ? ` to ${secs(a.end_s)} s` : " to the end";
        const words = `counts from ${secs(a.start_s ?? 0)} s${until}${moves ? `, ${moves}` : ""}`;
        li.append(" ", el("span", { className: "muted small", textContent: words }));
      } else if (moves) {
        li.append(" ", el("span", { className: "muted small", textContent: moves }));
      }
      return li;
    });
    this.specs.replaceChildren(...items);
    this.specs.closest(".aoi-specs-block").hidden = items.length === 0;
  }
}

const root = document.querySelector("[data-video-aoi-editor]");
if (root) {
  const data = JSON.parse(document.getElementById("asset-data").textContent);
  window.aoiEditor = new VideoAoiEditor(root, data);
}
