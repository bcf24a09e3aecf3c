// The memorability timeline (raw and smoothed) under the video. A playhead follows playback;
// a click on the chart seeks the video there. uPlot is loaded as a classic script (global).

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export class Timeline {
  constructor(root, video, data) {
    this.root = root;
    this.video = video;
    this.duration = data.duration_s;
    const t = data.timeline.map((p) => p.t);
    const raw = data.timeline.map((p) => p.memorability);
    const smooth = data.timeline.map((p) => p.smoothed);
    const holder = root.querySelector(".timeline-chart");
    // A fixed 0..1 axis flattens the curve (scores of one video sit close together): pad its range.
    const lo = Math.min(...raw, ...smooth);
    const hi = Math.max(...raw, ...smooth);
    const pad = Math.max(0.05, (hi - lo) * 0.15);
    const yRange = [Math.max(0, Math.floor((lo - pad) * 20) / 20), Math.min(1, Math.ceil((hi + pad) * 20) / 20)];
    const opts = {
      width: Math.max(300, holder.clientWidth),
      height: 220,
      scales: { x: { time: false, range: [0, Math.max(this.duration, t[t.length - 1] || 1)] }, y: { range: yRange } },
      axes: [
        { label: "seconds", stroke: cssVar("--ink", "#1b1f24") },
        { label: "memorability", stroke: cssVar("--ink", "#1b1f24"), values: (u, ticks) => ticks.map((v) => v.toFixed(2)) },
      ],
      cursor: { drag: { x: false, y: false }, points: { show: false } },
      legend: { show: true, live: false }, // labels only: the playhead, not the mouse, marks the moment
      series: [
        {},
        { label: "raw", stroke: "#8a94a6", width: 1, points: { show: t.length < 60 }, value: (u, v) => (v == null ? "–" : v.toFixed(3)) },
        { label: "smoothed", stroke: "#0b5cad", width: 2.5, value: (u, v) => (v == null ? "–" : v.toFixed(3)) },
      ],
    };
    this.plot = new uPlot(opts, [t, raw, smooth], holder);
    this.playhead = document.createElement("div");
    this.playhead.className = "playhead";
    this.playhead.setAttribute("aria-hidden", "true");
    this.plot.over.append(this.playhead);
    this.plot.over.addEventListener("click", (ev) => this.seek(this.plot.posToVal(ev.offsetX, "x")));
    this.plot.over.title = "Click to play from here";
    new ResizeObserver(() => {
      const w = Math.max(300, holder.clientWidth);
      if (Math.abs(w - this.plot.width) > 2) this.plot.setSize({ width: w, height: opts.height });
      this.follow();
    }).observe(holder);
    // timeupdate fires ~4 times a second: animation frames keep the playhead smooth while playing.
    const tick = () => {
      this.follow();
      if (!video.paused) requestAnimationFrame(tick);
    };
    video.addEventListener("play", () => requestAnimationFrame(tick));
    for (const ev of ["timeupdate", "seeked", "loadedmetadata"]) video.addEventListener(ev, () => this.follow());
    this.follow();
  }

  seek(t) {
    const v = this.video;
    const clamped = Math.min(Math.max(0, t), (v.duration || this.duration) - 0.01);
    if (v.readyState === 0) v.preload = "auto"; // nothing loaded yet (preload="none"): start now
    v.currentTime = clamped;
    this.follow(clamped);
  }

  follow(at) {
    const t = at ?? this.video.currentTime ?? 0;
    const x = this.plot.valToPos(t, "x");
    this.playhead.style.transform = `translateX(${x}px)`;
    this.root.dataset.t = t.toFixed(2);
  }
}

const root = document.querySelector("[data-timeline]");
if (root) {
  const data = JSON.parse(document.getElementById("asset-data").textContent);
  const video = document.querySelector("video.video-original");
  window.timeline = new Timeline(root, video, data);
  for (const button of document.querySelectorAll("button.keyframe")) {
    button.addEventListener("click", () => {
      window.timeline.seek(Number(button.dataset.t));
      video.play().catch(() => {});
    });
  }
}
