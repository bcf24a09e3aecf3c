// Overlays over the creative, drawn in the browser from the saliency model's small grid
// (a few KB in the page) instead of loading another full-size image: a heatmap, a fog that
// leaves visible only what draws the first looks, and numbered attention peaks. For a video,
// the heatmap video plays on top of the original, kept in sync with it.

// Turbo colour map (Mikhailov 2019), the same polynomial as impactlens/media/heatmap.py.
const TURBO = [
  [0.13572138, 4.6153926, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
  [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
  [0.1066733, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
];

export function turbo(x) {
  const v = Math.min(1, Math.max(0, x));
  return TURBO.map((c) => {
    let acc = 0;
    for (let k = c.length - 1; k >= 0; k--) acc = acc * v + c[k];
    return Math.round(Math.min(1, Math.max(0, acc)) * 255);
  });
}

// The grid value above which cells hold `mass` of the attention: the spotlight's edge.
function massThreshold(values, mass) {
  const sorted = Float32Array.from(values).sort().reverse();
  const total = sorted.reduce((a, b) => a + b, 0) || 1;
  let acc = 0;
  for (const v of sorted) {
    acc += v;
    if (acc >= mass * total) return v;
  }
  return 0;
}

// Colours are scaled to a high quantile, not the maximum: one outlying cell (the model can put
// one at an edge) would otherwise leave the rest of the map invisible.
function colourTop(values) {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.floor(0.995 * (sorted.length - 1))] || sorted[sorted.length - 1] || 1;
}

function gridImage(grid, pixel) {
  const c = document.createElement("canvas");
  c.width = grid.w;
  c.height = grid.h;
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(grid.w, grid.h);
  const top = colourTop(grid.values);
  grid.values.forEach((v, i) => {
    const [r, g, b, a] = pixel(Math.min(1, v / top));
    img.data.set([r, g, b, Math.round(a * 255)], i * 4);
  });
  ctx.putImageData(img, 0, 0);
  return c;
}

export class ImageOverlays {
  constructor(root, data) {
    this.root = root;
    this.canvas = root.querySelector("canvas.overlay-canvas");
    this.peaks = root.querySelector(".peaks-layer");
    this.opacity = root.querySelector("input.overlay-opacity");
    this.opacityOut = root.querySelector(".overlay-opacity-value");
    this.data = data;
    const spot = data.grid ? Math.min(1, massThreshold(data.grid.values, 0.5) / colourTop(data.grid.values)) : 0;
    this.layers = data.grid
      ? {
          // alpha grows with attention (like the server's blended heatmap) so the photo shows through
          heatmap: gridImage(data.grid, (n) => [...turbo(n), 0.85 * Math.sqrt(n)]),
          // dark where attention is low; fully clear inside the region holding half the attention
          fog: gridImage(data.grid, (n) => [8, 10, 20, 0.92 * Math.pow(1 - Math.min(1, n / (spot || 1)), 0.6)]),
        }
      : {};
    this.mode = root.dataset.mode || "none"; // the report has no controls: a fixed mode
    this.renderPeaks();
    for (const radio of root.querySelectorAll("input[name=overlay]")) {
      radio.addEventListener("change", () => radio.checked && this.setMode(radio.value));
      if (radio.checked) this.mode = radio.value;
    }
    const peaksBox = root.querySelector("input.show-peaks");
    if (peaksBox) {
      peaksBox.addEventListener("change", () => this.showPeaks(peaksBox.checked));
      this.showPeaks(peaksBox.checked);
    }
    if (this.opacity) this.opacity.addEventListener("input", () => this.applyOpacity());
    new ResizeObserver(() => this.draw()).observe(this.canvas);
    this.applyOpacity();
    this.setMode(this.mode);
  }

  setMode(mode) {
    this.mode = mode;
    this.root.dataset.overlay = mode;
    if (this.opacity) this.opacity.disabled = mode === "none";
    this.draw();
  }

  applyOpacity() {
    const v = this.opacity ? Number(this.opacity.value) : 100;
    this.canvas.style.opacity = String(v / 100);
    if (this.opacityOut) this.opacityOut.textContent = `${v}%`;
  }

  showPeaks(on) {
    if (this.peaks) this.peaks.hidden = !on;
    this.root.dataset.peaks = on ? "on" : "off";
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.max(1, Math.round(c.clientWidth * dpr));
    c.height = Math.max(1, Math.round(c.clientHeight * dpr));
    const ctx = c.getContext("2d");
    ctx.clearRect(0, 0, c.width, c.height);
    const layer = this.layers[this.mode];
    if (!layer) return;
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(layer, 0, 0, c.width, c.height);
  }

  renderPeaks() {
    if (!this.peaks) return;
    const { width, height } = this.data;
    const marks = (this.data.peaks || []).map((p, i) => {
      const el = document.createElement("span");
      el.className = "peak";
      el.textContent = String(i + 1);
      el.style.left = `${(100 * p.x) / width}%`;
      el.style.top = `${(100 * p.y) / height}%`;
      el.title = `Peak ${i + 1}: ${Math.round(p.relative_density * 100)}% of the strongest`;
      return el;
    });
    this.peaks.replaceChildren(...marks);
  }
}

// The heatmap video plays over the original: the original's controls drive both.
export class VideoOverlay {
  constructor(root) {
    this.root = root;
    this.main = root.querySelector("video.video-original");
    this.heat = root.querySelector("video.video-heatmap");
    this.opacity = root.querySelector("input.overlay-opacity");
    this.opacityOut = root.querySelector(".overlay-opacity-value");
    if (!this.main || !this.heat) return;
    const m = this.main;
    const h = this.heat;
    m.addEventListener("play", () => this.visible() && h.play().catch(() => {}));
    m.addEventListener("pause", () => {
      h.pause();
      this.sync(true);
    });
    m.addEventListener("seeked", () => this.sync(true));
    m.addEventListener("ratechange", () => (h.playbackRate = m.playbackRate));
    m.addEventListener("timeupdate", () => this.sync(false));
    for (const radio of root.querySelectorAll("input[name=video-overlay]")) {
      radio.addEventListener("change", () => radio.checked && this.setMode(radio.value));
    }
    if (this.opacity) this.opacity.addEventListener("input", () => this.applyOpacity());
    this.applyOpacity();
    const checked = root.querySelector("input[name=video-overlay]:checked");
    this.setMode(checked ? checked.value : "original");
  }

  visible() {
    return this.root.dataset.overlay === "heatmap";
  }

  setMode(mode) {
    this.root.dataset.overlay = mode;
    this.heat.hidden = mode !== "heatmap";
    if (this.opacity) this.opacity.disabled = mode !== "heatmap";
    if (mode === "heatmap") {
      if (this.heat.preload !== "auto") this.heat.preload = "auto"; // loaded only once asked for
      this.sync(true);
      if (!this.main.paused) this.heat.play().catch(() => {});
    } else {
      this.heat.pause();
    }
  }

  applyOpacity() {
    const v = this.opacity ? Number(this.opacity.value) : 100;
    this.heat.style.opacity = String(v / 100);
    if (this.opacityOut) this.opacityOut.textContent = `${v}%`;
  }

  // Re-align when the two drift apart by more than a frame or two (or at once on a seek).
  sync(force) {
    if (!this.visible()) return;
    const drift = Math.abs(this.heat.currentTime - this.main.currentTime);
    if (force || drift > 0.12) this.heat.currentTime = this.main.currentTime;
  }
}

const data = document.getElementById("asset-data");
const parsed = data ? JSON.parse(data.textContent) : null;
const imageRoot = document.querySelector("[data-overlays=image]");
if (imageRoot && parsed) window.overlays = new ImageOverlays(imageRoot, parsed);
const videoRoot = document.querySelector("[data-overlays=video]");
if (videoRoot) window.videoOverlay = new VideoOverlay(videoRoot);
