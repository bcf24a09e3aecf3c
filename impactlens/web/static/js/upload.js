// Uploads each dropped or chosen file through the same /v1 routes as any API client:
// POST /v1/assets, then the bytes to the returned upload URL, with per-file progress.

const MESSAGES = {
  unsupported_media: "This file type is not supported: use an image (JPEG, PNG, WebP…) or a video (MP4, MOV, WebM…).",
  unsupported_media_type: "The browser sent the file in a form the server does not accept.",
  not_a_video: "This looks like a still image saved as a video; upload it as an image.",
  no_video_stream: "This file has no video track (audio only?).",
  empty_file: "The file is empty.",
  empty_video: "The video has no frame that can be decoded.",
  corrupt_image: "The image is damaged or truncated.",
  corrupt_media: "The video is damaged or truncated.",
  truncated_media: "The video is cut short: it ends before the length its header announces (an interrupted export or copy?). Export it again.",
  image_too_small: "The image is too small to analyse.",
  video_too_small: "The video frame is too small to analyse.",
  image_too_large: "The image has too many pixels to decode safely.",
  video_too_large: "The video resolution is above the limit.",
  video_too_long: "The video is longer than the limit.",
  upload_too_large: "The file is larger than your plan allows.",
  quota_exceeded: "Your plan's analyses for this month are used up.",
  already_uploaded: "This asset already has its file.",
  malformed_multipart: "The upload was garbled on the way; try again.",
  missing_file: "No file arrived; try again.",
  rate_limited: "Too many requests at once; wait a moment and retry.",
  unauthorized: "Your session has ended; sign in again.",
  csrf_refused: "The request did not come from this site; reload the page.",
  not_found: "The campaign no longer exists; reload the page.",
  validation_error: "The file name or campaign is not accepted.",
};

const DETAILED = new Set(["video_too_long", "video_too_large", "image_too_large", "truncated_media", "corrupt_media"]);

const list = document.getElementById("files");
const summary = document.getElementById("upload-summary");
const tally = { ok: 0, error: 0, total: 0 };
const form = document.getElementById("upload-form");
const zone = document.getElementById("dropzone");
const input = document.getElementById("up-files");

function describe(status, body) {
  const err = body && body.error;
  if (err && err.code === "upload_too_large") {
    return `The file is larger than your plan's ${form.dataset.maxLabel} a file. (${err.code})`;
  }
  // Where the server's words carry the figures (how long, how large), they follow.
  if (err && MESSAGES[err.code] && DETAILED.has(err.code)) return `${MESSAGES[err.code]} Details: ${err.message}. (${err.code})`;
  if (err && MESSAGES[err.code]) return `${MESSAGES[err.code]} (${err.code})`;
  if (err) return `${err.message} (${err.code})`;
  if (status === 0) return "The connection failed; check the network and retry.";
  return `The server answered ${status}.`;
}

function row(file) {
  const li = document.createElement("li");
  const name = document.createElement("span");
  name.textContent = file.name; // textContent: a file name is never parsed as HTML
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", `upload progress of ${file.name}`);
  const msg = document.createElement("span");
  msg.className = "msg";
  msg.textContent = "waiting…";
  li.append(name, bar, msg);
  list.append(li);
  return {
    li, bar,
    say(text, kind) {
      msg.textContent = text;
      msg.className = `msg ${kind || ""}`;
      li.dataset.state = kind || "busy";
      // A refused file's bar would read as "done": hide it, the message says what happened.
      bar.hidden = kind === "error";
      if (kind === "ok" || kind === "error") { tally[kind] += 1; summarise(); }
    },
    link(asset) {
      const a = document.createElement("a");
      a.href = `/assets/${encodeURIComponent(asset)}`;
      a.textContent = "open its page";
      a.className = "open";
      msg.append(" ", a, " to follow the analysis.");
    },
  };
}

function summarise() {
  const waiting = tally.total - tally.ok - tally.error;
  const parts = [`${tally.ok} of ${tally.total} uploaded`];
  if (tally.error) parts.push(`${tally.error} refused (reasons below)`);
  if (waiting) parts.push(`${waiting} in progress`);
  summary.textContent = parts.join("; ") + ".";
  summary.className = tally.error ? "notice error" : waiting ? "muted" : "notice ok";
}

function size(n) {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GB`;
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
}

function send(method, url, body, headers, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let parsed = null;
      try { parsed = JSON.parse(xhr.responseText); } catch { parsed = null; }
      resolve({ status: xhr.status, body: parsed });
    };
    xhr.onerror = () => resolve({ status: 0, body: null });
    xhr.send(body);
  });
}

async function uploadOne(file, brand, campaign) {
  const r = row(file);
  const limit = Number(form.dataset.maxBytes || 0);
  if (limit && file.size > limit) {
    // Refused before sending: a file over the plan's limit would upload in full only to be refused.
    r.say(`This file is ${size(file.size)}; your plan accepts up to ${form.dataset.maxLabel} a file. `
      + "Export a smaller version (lower bitrate or resolution) and upload that. (upload_too_large)", "error");
    return;
  }
  r.say("creating the asset…");
  const created = await fetch("/v1/assets", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ brand, campaign, name: file.name.slice(0, 200) }),
  });
  const asset = await created.json().catch(() => null);
  if (!created.ok) { r.say(describe(created.status, asset), "error"); return; }
  r.li.dataset.asset = asset.asset;
  const up = asset.upload;
  r.say("uploading…");
  let res;
  if (up.method === "POST") {
    const data = new FormData();
    data.append(up.form_field || "file", file, file.name);
    res = await send("POST", up.url, data, {}, (p) => { r.bar.value = p; });
  } else {
    res = await send(up.method, up.url, file, up.headers, (p) => { r.bar.value = p; });
    if (res.status >= 200 && res.status < 300 && up.complete_url) {
      const done = await fetch(up.complete_url, { method: "POST" });
      res = { status: done.status, body: await done.json().catch(() => null) };
    }
  }
  if (res.status >= 200 && res.status < 300) {
    r.bar.value = 1;
    r.say("uploaded; the analysis is queued:", "ok");
    r.link(asset.asset);
  } else {
    r.say(describe(res.status, res.body), "error");
    // The refused file leaves no empty asset behind in the library.
    await fetch(`/v1/assets/${asset.asset}`, { method: "DELETE" }).catch(() => null);
    delete r.li.dataset.asset;
  }
}

async function uploadAll(files) {
  const [brand, campaign] = form.elements.target.value.split("/");
  // Three at a time: many files at once should not starve the page of connections.
  const queue = Array.from(files);
  tally.total += queue.length;
  summarise();
  const workers = Array.from({ length: Math.min(3, queue.length) }, async () => {
    while (queue.length) await uploadOne(queue.shift(), brand, campaign);
  });
  await Promise.all(workers);
}

if (form) {
  input.addEventListener("change", () => { uploadAll(input.files); input.value = ""; });
  for (const ev of ["dragenter", "dragover"]) {
    zone.addEventListener(ev, (e) => { e.preventDefault(); zone.classList.add("over"); });
  }
  for (const ev of ["dragleave", "drop"]) {
    zone.addEventListener(ev, (e) => { e.preventDefault(); zone.classList.remove("over"); });
  }
  zone.addEventListener("drop", (e) => uploadAll(e.dataTransfer.files));
}
