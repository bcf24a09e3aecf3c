// Tracked AOIs on the video page: a kept face or text block follows its track, keyframes
// {t, x, y, w, h} in the video's display pixels (times increasing). Between two keyframes the
// box moves linearly, before the first and after the last it stays put: the server measures
// the shares the same way (impactlens/engine/tracks.py). Pure functions, no DOM.

export function copyTrack(track) {
  return Array.isArray(track) && track.length ? track.map((k) => ({ t: k.t, x: k.x, y: k.y, w: k.w, h: k.h })) : null;
}

export function boxAt(track, t) {
  const pick = ({ x, y, w, h }) => ({ x, y, w, h });
  if (t <= track[0].t) return pick(track[0]);
  const last = track[track.length - 1];
  if (t >= last.t) return pick(last);
  let i = 1;
  while (track[i].t < t) i++;
  const a = track[i - 1];
  const b = track[i];
  const f = (t - a.t) / (b.t - a.t);
  const mix = (k) => a[k] + f * (b[k] - a[k]);
  return { x: mix("x"), y: mix("y"), w: mix("w"), h: mix("h") };
}

// The whole track moved and resized by what the box shown was moved and resized by; every
// keyframe keeps at least a pixel inside the frame (the server refuses a box wholly outside).
export function shiftTrack(track, d, width, height) {
  const grown = track.map((k) => ({ ...k, w: Math.max(1, k.w + d.w), h: Math.max(1, k.h + d.h) }));
  const dx = Math.min(Math.max(d.x, ...grown.map((k) => 1 - k.x - k.w)), ...grown.map((k) => width - 1 - k.x));
  const dy = Math.min(Math.max(d.y, ...grown.map((k) => 1 - k.y - k.h)), ...grown.map((k) => height - 1 - k.y));
  return grown.map((k) => ({ ...k, x: k.x + dx, y: k.y + dy }));
}

// The one box the server keeps beside the track (what needs a single box): the keyframes'
// mean, its corner inside the frame.
export function meanBox(track, width, height) {
  const mean = (k) => track.reduce((s, p) => s + p[k], 0) / track.length;
  return {
    x: Math.min(Math.max(0, mean("x")), width - 1),
    y: Math.min(Math.max(0, mean("y")), height - 1),
    w: mean("w"),
    h: mean("h"),
  };
}

// Sent with a tenth of a pixel: the payload stays small, the boxes stay where they were.
export function trackPayload(track) {
  const r = (v) => Math.round(v * 10) / 10;
  return track.map((k) => ({ t: k.t, x: r(k.x), y: r(k.y), w: Math.max(0.1, r(k.w)), h: Math.max(0.1, r(k.h)) }));
}
