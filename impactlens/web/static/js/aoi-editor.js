// AOI drawing over the creative. AOIs live in the image's pixel coordinates (what the API
// stores); the canvas only scales them for display. Each change is saved with a debounced
// PUT /v1/assets/{id}/aois (session cookie + CSRF header) and the recomputed shares are
// read back from /v1/assets/{id}/results. The video page subclasses it (aoi-video.js): the
// hooks marked "hook" are what a time window changes.

import { drawAois } from "./aoi-draw.js";
import { errorText, fmtPct, imageCells, renderTable } from "./aoi-table.js";

const NAME_RE = /^[A-Za-z0-9_.\-]{1,64}$/;
const HANDLE = 7; // handle half-size in CSS pixels
const MIN_SIZE = 4; // smallest AOI in CSS pixels (a click is not a drag)
const SAVE_DELAY_MS = 350;

export class AoiEditor {
  constructor(root, data) {
    this.root = root;
    this.configure(data);
    this.assetId = data.asset;
    this.width = data.width;
    this.height = data.height;
    const meta = document.querySelector("meta[name=csrf-token]");
    this.csrf = meta ? meta.content : "";
    this.aois = (data.aois || []).map((a) => this.fromData(a));
    this.shares = new Map((data.attention || []).map((s) => [s.name, s]));
    this.selected = -1;
    this.drag = null;
    this.saveTimer = null;
    this.saveSeq = 0;
    this.canvas = root.querySelector("canvas.aoi-canvas");
    this.tbody = root.querySelector(".aoi-table tbody");
    this.status = root.querySelector(".aoi-status");
    this.ctx = this.canvas.getContext("2d");
    this.bind();
    new ResizeObserver(() => this.resize()).observe(this.canvas);
    this.resize();
    this.renderTable();
  }

  // --- hooks ----------------------------------------------------------------------------
  configure() {}

  fromData(a) {
    return { name: a.name, x: a.x, y: a.y, w: a.w, h: a.h };
  }

  toPayload(a) {
    const [x, y, w, h] = [a.x, a.y, a.w, a.h].map(Math.round);
    return { name: a.name, x, y, w: Math.max(1, w), h: Math.max(1, h) };
  }

  isActive() {
    return true; // drawn as shown now (a video's AOI outside its window is drawn faded)
  }

  shareText(s) {
    return fmtPct(s.share);
  }

  problem() {
    return null; // a reason not to save what is there now
  }

  rowCells(a, i) {
    return imageCells(this, a, i);
  }

  // --- geometry -------------------------------------------------------------------------
  get scale() {
    return this.canvas.clientWidth / this.width || 1;
  }

  toImage(ev) {
    const r = this.canvas.getBoundingClientRect();
    const s = this.scale;
    return { x: (ev.clientX - r.left) / s, y: (ev.clientY - r.top) / s };
  }

  clamp(a) {
    a.w = Math.min(Math.max(a.w, 1), this.width);
    a.h = Math.min(Math.max(a.h, 1), this.height);
    a.x = Math.min(Math.max(a.x, 0), this.width - a.w);
    a.y = Math.min(Math.max(a.y, 0), this.height - a.h);
    return a;
  }

  handles(a) {
    return [
      ["nw", a.x, a.y],
      ["ne", a.x + a.w, a.y],
      ["sw", a.x, a.y + a.h],
      ["se", a.x + a.w, a.y + a.h],
    ];
  }

  hit(p) {
    const tol = HANDLE / this.scale;
    const sel = this.aois[this.selected];
    if (sel) {
      for (const [corner, hx, hy] of this.handles(sel)) {
        if (Math.abs(p.x - hx) <= tol && Math.abs(p.y - hy) <= tol) return { index: this.selected, corner };
      }
    }
    for (let i = this.aois.length - 1; i >= 0; i--) {
      const a = this.aois[i];
      if (p.x >= a.x && p.x <= a.x + a.w && p.y >= a.y && p.y <= a.y + a.h) return { index: i, corner: null };
    }
    return null;
  }

  uniqueName() {
    const names = new Set(this.aois.map((a) => a.name));
    let n = this.aois.length + 1;
    while (names.has(`aoi_${n}`)) n++;
    return `aoi_${n}`;
  }

  // --- events ---------------------------------------------------------------------------
  bind() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (ev) => this.onDown(ev));
    c.addEventListener("pointermove", (ev) => this.onMove(ev));
    c.addEventListener("pointerup", (ev) => this.onUp(ev));
    c.addEventListener("pointercancel", (ev) => this.onUp(ev));
    c.addEventListener("keydown", (ev) => this.onKey(ev));
    const add = this.root.querySelector(".aoi-add");
    if (add) add.addEventListener("click", () => this.addCentred());
    for (const keep of this.root.querySelectorAll(".auto-aoi-keep")) {
      keep.addEventListener("click", () => this.keep(keep.dataset));
    }
  }

  onDown(ev) {
    if (ev.button !== 0) return;
    this.canvas.focus({ preventScroll: true }); // a scroll here would shift the AOI being drawn
    this.canvas.setPointerCapture(ev.pointerId);
    const p = this.toImage(ev);
    const h = this.hit(p);
    if (h) {
      this.select(h.index);
      const a = this.aois[h.index];
      this.drag = { mode: h.corner ? "resize" : "move", corner: h.corner, start: p, orig: { ...a } };
    } else {
      const a = { name: this.uniqueName(), x: p.x, y: p.y, w: 0, h: 0 };
      this.aois.push(a);
      this.select(this.aois.length - 1);
      this.drag = { mode: "create", start: p, orig: { ...a } };
    }
    this.draw();
  }

  onMove(ev) {
    const p = this.toImage(ev);
    if (!this.drag) {
      const h = this.hit(p);
      const cursor = { nw: "nwse-resize", se: "nwse-resize", ne: "nesw-resize", sw: "nesw-resize" };
      this.canvas.style.cursor = h ? (h.corner ? cursor[h.corner] : "move") : "crosshair";
      return;
    }
    const a = this.aois[this.selected];
    const d = this.drag;
    const dx = p.x - d.start.x;
    const dy = p.y - d.start.y;
    if (d.mode === "move") {
      Object.assign(a, { x: d.orig.x + dx, y: d.orig.y + dy });
      this.clamp(a);
    } else {
      // create and resize: the corner opposite the dragged one stays put
      const fixed = d.mode === "create" ? d.start : this.opposite(d.orig, d.corner);
      const px = Math.min(Math.max(p.x, 0), this.width);
      const py = Math.min(Math.max(p.y, 0), this.height);
      Object.assign(a, {
        x: Math.min(fixed.x, px),
        y: Math.min(fixed.y, py),
        w: Math.abs(px - fixed.x),
        h: Math.abs(py - fixed.y),
      });
    }
    this.draw();
  }

  opposite(a, corner) {
    return {
      x: corner.includes("w") ? a.x + a.w : a.x,
      y: corner.includes("n") ? a.y + a.h : a.y,
    };
  }

  onUp(ev) {
    if (!this.drag) return;
    const d = this.drag;
    this.drag = null;
    if (this.canvas.hasPointerCapture(ev.pointerId)) this.canvas.releasePointerCapture(ev.pointerId);
    const a = this.aois[this.selected];
    const minImg = MIN_SIZE / this.scale;
    if (d.mode !== "move" && (a.w < minImg || a.h < minImg)) {
      if (d.mode === "create") {
        this.aois.splice(this.selected, 1);
        this.select(-1);
      } else {
        Object.assign(a, d.orig);
      }
      this.draw();
      return;
    }
    if (a.x !== d.orig.x || a.y !== d.orig.y || a.w !== d.orig.w || a.h !== d.orig.h) this.changed();
    this.draw();
  }

  onKey(ev) {
    const a = this.aois[this.selected];
    const step = ev.shiftKey ? 10 : 1;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (ev.key === "Tab") {
      // Tab walks through the AOIs, then leaves the canvas (no keyboard trap).
      const next = this.selected + (ev.shiftKey ? -1 : 1);
      if (this.aois.length && next >= 0 && next < this.aois.length) {
        ev.preventDefault();
        this.select(next);
      } else if (this.selected === -1 && ev.shiftKey && this.aois.length) {
        ev.preventDefault();
        this.select(this.aois.length - 1);
      } else {
        this.select(-1);
      }
    } else if (a && moves[ev.key]) {
      ev.preventDefault();
      const [dx, dy] = moves[ev.key];
      a.x += dx;
      a.y += dy;
      this.clamp(a);
      this.changed();
    } else if (a && (ev.key === "Delete" || ev.key === "Backspace")) {
      ev.preventDefault();
      this.remove(this.selected);
    } else if (ev.key === "Escape") {
      this.select(-1);
    }
    this.draw();
  }

  addCentred() {
    const w = Math.round(this.width / 4);
    const h = Math.round(this.height / 4);
    const a = { name: this.uniqueName(), x: Math.round((this.width - w) / 2), y: Math.round((this.height - h) / 2), w, h };
    this.aois.push(a);
    this.select(this.aois.length - 1);
    this.changed();
    this.canvas.focus();
  }

  // A detected element (face, text) becomes an ordinary, editable AOI.
  keep(d) {
    const base = (d.name || "element").replace(/[^A-Za-z0-9_.\-]/g, "_").slice(0, 60) || "element";
    const names = new Set(this.aois.map((a) => a.name));
    let name = base;
    for (let n = 2; names.has(name); n++) name = `${base}_${n}`;
    this.aois.push(this.clampKept({ ...this.fromKept(d), name }));
    this.select(this.aois.length - 1);
    this.changed();
    return this.aois[this.aois.length - 1];
  }

  fromKept(d) {
    return { x: Number(d.x), y: Number(d.y), w: Number(d.w), h: Number(d.h) };
  }

  clampKept(a) {
    return this.clamp(a); // hook: a video's tracked element is placed on its track instead
  }

  remove(i) {
    const [gone] = this.aois.splice(i, 1);
    this.select(Math.min(i, this.aois.length - 1));
    this.announce(`Removed ${gone.name}`);
    this.changed();
  }

  rename(i, input) {
    const name = input.value.trim();
    const taken = this.aois.some((a, j) => j !== i && a.name === name);
    if (!NAME_RE.test(name) || taken) {
      input.setAttribute("aria-invalid", "true");
      this.announce(taken ? `The name ${name} is already used` : "Names use letters, digits, '.', '_' and '-' (1-64)", true);
      return;
    }
    input.removeAttribute("aria-invalid");
    if (this.aois[i].name !== name) {
      this.aois[i].name = name;
      this.changed();
    }
  }

  select(i) {
    this.selected = i;
    const a = this.aois[i];
    this.canvas.setAttribute(
      "aria-label",
      a
        ? `AOI editor: ${a.name} selected at ${Math.round(a.x)}, ${Math.round(a.y)}, ${Math.round(a.w)} by ${Math.round(a.h)} pixels. Arrows move it, Delete removes it, Tab selects the next.`
        : "AOI editor: drag on the image to draw an area of interest; Tab selects the AOIs.",
    );
    for (const row of this.tbody.querySelectorAll("tr")) row.classList.toggle("selected", Number(row.dataset.index) === i);
    this.draw();
  }

  // --- saving ---------------------------------------------------------------------------
  changed() {
    for (const a of this.aois) this.shares.delete(a.name);
    this.renderTable();
    this.scheduleSave();
  }

  // Saves what is there after a short pause; nothing is sent while a problem stands.
  scheduleSave() {
    for (const a of this.aois) this.shares.delete(a.name);
    this.draw();
    clearTimeout(this.saveTimer);
    this.saveSeq++; // an answer already on its way is for an older state
    const problem = this.problem();
    if (problem) {
      this.root.dataset.saved = "invalid";
      this.announce(`Not saved: ${problem}`, true);
      this.afterShares();
      return;
    }
    this.root.dataset.saved = "pending";
    this.announce("Saving…");
    this.afterShares();
    this.saveTimer = setTimeout(() => this.save(), SAVE_DELAY_MS);
  }

  afterShares() {}

  showShares() {
    this.renderTable(); // hook: the image's table holds the shares
  }

  payload() {
    return { aois: this.aois.map((a) => this.toPayload(a)) };
  }

  async save() {
    const seq = ++this.saveSeq;
    const headers = { "Content-Type": "application/json", "X-CSRF-Token": this.csrf };
    try {
      const put = await fetch(`/v1/assets/${encodeURIComponent(this.assetId)}/aois`, {
        method: "PUT",
        credentials: "same-origin",
        headers,
        body: JSON.stringify(this.payload()),
      });
      if (!put.ok) throw new Error(await errorText(put));
      const res = await fetch(`/v1/assets/${encodeURIComponent(this.assetId)}/results`, { credentials: "same-origin" });
      if (!res.ok) throw new Error(await errorText(res));
      const body = await res.json();
      if (seq !== this.saveSeq) return; // a newer change is on its way
      this.shares = new Map((body.analysis.attention || []).map((s) => [s.name, s]));
      this.showShares();
      this.draw();
      this.root.dataset.saved = "ok";
      this.announce(`Saved ${this.aois.length} AOI${this.aois.length === 1 ? "" : "s"}; shares recomputed.`);
    } catch (err) {
      if (seq !== this.saveSeq) return;
      this.root.dataset.saved = "error";
      this.announce(`Not saved: ${err.message}`, true);
    }
  }

  announce(text, isError = false) {
    if (!this.status) return;
    this.status.textContent = text;
    this.status.classList.toggle("error", isError);
  }

  // --- rendering ------------------------------------------------------------------------
  resize() {
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(this.canvas.clientWidth * dpr);
    this.canvas.height = Math.round(this.canvas.clientHeight * dpr);
    this.draw();
  }

  draw() {
    drawAois(this, HANDLE);
  }

  renderTable() {
    renderTable(this);
  }
}

const root = document.querySelector("[data-aoi-editor]");
if (root) {
  const data = JSON.parse(document.getElementById("asset-data").textContent);
  window.aoiEditor = new AoiEditor(root, data);
}
