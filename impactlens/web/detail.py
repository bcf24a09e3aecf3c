"""Asset detail pages (image and video), the printable report, and the media they show.

The pages read what the API reads (the asset item, its stored result, the result files) through
the same helpers as /v1/assets; nothing is computed here beyond shaping it for display. Media is
served by path under the session (links never expire while a page stays open) and the creative
is shown from a size-capped derived JPEG, not the original upload.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from ..api.deps import ServicesDep
from ..api.routes.assets import asset_out, result_files
from ..api.schemas import finite_aois
from ..errors import MediaError
from ..jobs.analysis import asset_prefix, asset_source, results_prefix
from ..media.image_io import decode_image
from ..media.video_io import iter_samples, probe
from ..models.registry import get_spec
from ..services import Services
from ..storage.base import BlobNotFoundError, InvalidKeyError, check_key
from ..storage.local import LocalBlobStore
from .deps import FragmentUser, PageUser
from .templating import ordinal, render

router = APIRouter()
DISPLAY_LONG_SIDE = 1280  # enough for a detail view on a large screen; originals can be 50 MP
FILE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".mp4": "video/mp4", ".npz": "application/octet-stream"}
METRIC_WORDS = {  # the registry's metric keys, for the "about this score" panel: (words, format)
    "recall_composites": ("recall on faces composited into scenes", "{:.0%}"),
    "recall_drawn_words": ("recall on words drawn into scenes", "{:.0%}"),
    "human_fixation_lift": ("human fixations inside detections vs their area", "{:.1f}×"),
    "time_vs_saliency": ("run time relative to the saliency model", "{:.2g}×"),
    "speedup_vs_reference": ("speed-up over the reference", "{:.2g}×"),
}
IN_PROGRESS = ("awaiting_upload", "queued", "processing")
ERROR_WORDS = {  # the worker's error codes, said plainly; the stored message follows
    "corrupt_media": "The file could not be decoded: it looks damaged or truncated.",
    "corrupt_image": "The image could not be decoded: it looks damaged or truncated.",
    "unsupported_media": "This file type is not supported.",
    "empty_video": "The video has no frames that could be read.",
    "video_too_long": "The video is longer than this installation accepts.",
    "video_too_large": "The video's frames are larger than this installation accepts.",
    "video_too_small": "The video's frames are too small to analyse.",
    "image_too_large": "The image has more pixels than this installation accepts.",
    "image_too_small": "The image is too small to analyse.",
    "analysis_error": "Something went wrong while analysing; it was retried and still failed.",
}


def _not_found(request: Request) -> HTMLResponse:
    # Another organisation's asset reads exactly like a missing one.
    msg = "There is no such asset in your organisation. It may have been deleted."
    return render(request, "error.html", {"title": "Asset not found", "message": msg}, 404)


def _load(services: Services, org: str, asset: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    item = services.repo.get_asset(org, asset)
    if item is None:
        return None, None
    version = item.get("result_version")
    stored = services.repo.get_result(org, asset, str(version)) if version else None
    return item, (json.loads(stored["analysis"]) if stored else None)


def gauge_arc(value: float) -> str:
    """SVG path of a semicircular gauge filled to `value` in [0, 1] (centre 60,60, radius 50)."""
    v = min(1.0, max(0.0, float(value)))
    angle = math.pi * (1 - v)
    x, y = 60 + 50 * math.cos(angle), 60 - 50 * math.sin(angle)
    return f"M 10 60 A 50 50 0 0 1 {x:.2f} {y:.2f}"


def aoi_spec(aoi: dict[str, Any], duration: float) -> tuple[str, str]:
    """The CLI's `name=x,y,w,h[@start-end]` form, and the time window in words when timed
    (an open end is the video's end)."""
    box = ",".join(str(round(float(aoi[k]))) for k in ("x", "y", "w", "h"))
    start, end = aoi.get("start_s"), aoi.get("end_s")
    track = aoi.get("track") or []
    moves = f"follows its track ({len(track)} keyframes; the box is their mean)" if track else ""
    if start is None and end is None:
        return f"{aoi['name']}={box}", moves
    s = f"{float(start or 0):g}"
    e = f"{float(end):g}" if end is not None else f"{duration:g}"
    until = f" to {e} s" if end is not None else " to the end"
    return f"{aoi['name']}={box}@{s}-{e}", f"counts from {s} s{until}" + (f", {moves}" if moves else "")


def spark_range(points: list[dict[str, float]]) -> tuple[float, float]:
    """The report chart's y range: the values padded (a fixed 0..1 axis flattens one video's curve)."""
    values = [p[k] for p in points for k in ("memorability", "smoothed")] or [0.0, 1.0]
    pad = max(0.05, (max(values) - min(values)) * 0.15)
    return max(0.0, math.floor((min(values) - pad) * 20) / 20), min(1.0, math.ceil((max(values) + pad) * 20) / 20)


def sparkline(points: list[dict[str, float]], duration: float, key: str, w: int = 600, h: int = 120) -> str:
    """SVG polyline points for the report's timeline, in the range from spark_range."""
    span = max(duration, points[-1]["t"] if points else 0.0) or 1.0
    lo, hi = spark_range(points)
    scale = (hi - lo) or 1.0
    return " ".join(f"{p['t'] / span * w:.1f},{(1 - (p[key] - lo) / scale) * h:.1f}" for p in points)


def about_models(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """The models that produced the result, with the registry's measured figures."""
    out = []
    for task, info in sorted(analysis.get("models", {}).items()):
        try:
            metrics = get_spec(info["name"], info["variant"]).metrics
        except KeyError:
            metrics = {}
        figures = []
        for k, v in metrics.items():
            words, fmt = METRIC_WORDS.get(k, (k.replace("_", " "), "{:.3g}"))
            figures.append(f"{words} {fmt.format(v)}")
        out.append({"task": task, **info, "metrics": metrics, "figures": figures})
    return out


def _grid(services: Services, org: str, asset: str, version: str) -> dict[str, Any] | None:
    """The saliency model's small grid (max scaled to 65535), for the overlays drawn in the page."""
    try:
        raw = services.blobs.read(f"{results_prefix(org, asset, version)}/grid.npy")
    except (BlobNotFoundError, FileNotFoundError):
        return None
    grid = np.load(io.BytesIO(raw), allow_pickle=False).astype(np.float64)
    top = float(grid.max()) or 1.0
    values = np.round(grid / top * 65535).astype(int)
    return {"w": int(grid.shape[1]), "h": int(grid.shape[0]), "values": values.ravel().tolist()}


def _page_data(services: Services, item: dict[str, Any], analysis: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "asset": item["asset"],
        "kind": item["kind"],
        "width": analysis["width"],
        "height": analysis["height"],
        "aois": finite_aois(item.get("aois", [])),  # the editors parse it: JSON has no NaN
        "attention": analysis.get("attention", []),
    }
    if item["kind"] == "image":
        data["peaks"] = analysis.get("saliency_peaks", [])
        data["grid"] = _grid(services, item["org"], item["asset"], str(item["result_version"]))
    else:
        data["duration_s"] = analysis["duration_s"]
        data["timeline"] = analysis["timeline"]
        # A detected element kept as an AOI follows its track (the keep buttons name it).
        data["auto_tracks"] = {
            a["name"]: a["track"] for a in finite_aois(analysis.get("auto_aois", [])) if a.get("track")
        }
    return data


def _context(services: Services, item: dict[str, Any], analysis: dict[str, Any] | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"asset": asset_out(services, item, with_job=True), "analysis": analysis}
    ctx["title"] = item["name"]
    ctx["error_words"] = ERROR_WORDS
    ctx["brand"] = services.repo.get_brand(item["org"], item["brand"]) or {"name": item["brand"]}
    ctx["campaign"] = services.repo.get_campaign(item["org"], item["brand"], item["campaign"]) or {
        "name": item["campaign"]
    }
    if analysis is not None:
        # Media URLs name the result version: cached files never outlive a new analysis.
        ctx["v"] = "?" + urlencode({"v": item.get("result_version", "")})
        ctx["data"] = _page_data(services, item, analysis)
        ctx["gauge"] = gauge_arc(analysis["memorability"])
        ctx["percentile"] = ordinal(float(analysis["memorability_percentile"]))
        ctx["models"] = about_models(analysis)
        duration = float(analysis.get("duration_s", 0))
        ctx["aoi_specs"] = [aoi_spec(a, duration) for a in finite_aois(item.get("aois", []))]
        if item["kind"] == "video":
            ctx["poster"] = isinstance(services.blobs, LocalBlobStore)
            dur = float(analysis["duration_s"])
            ctx["spark"] = {k: sparkline(analysis["timeline"], dur, k) for k in ("memorability", "smoothed")}
            ctx["spark_range"] = spark_range(analysis["timeline"])
            ctx["keyframes"] = [{**k, "role": f"keyframe_{n + 1}"} for n, k in enumerate(analysis.get("keyframes", []))]
    return ctx


@router.get("/assets/{asset}", response_class=HTMLResponse)
async def asset_page(asset: str, request: Request, principal: PageUser, services: ServicesDep) -> HTMLResponse:
    item, analysis = await run_in_threadpool(_load, services, principal.org, asset)
    if item is None:
        return _not_found(request)
    ctx = await run_in_threadpool(_context, services, item, analysis)
    if analysis is None:
        return render(request, "asset_pending.html", ctx)
    return render(request, "asset_video.html" if item["kind"] == "video" else "asset_image.html", ctx)


@router.get("/assets/{asset}/status", response_class=HTMLResponse)
async def asset_status(asset: str, request: Request, principal: FragmentUser, services: ServicesDep) -> HTMLResponse:
    """The progress fragment a pending page polls; once the analysis ends the page reloads."""
    item = await run_in_threadpool(services.repo.get_asset, principal.org, asset)
    if item is None:
        return _not_found(request)
    out = await run_in_threadpool(asset_out, services, item, True)
    response = render(request, "_asset_status.html", {"asset": out, "error_words": ERROR_WORDS})
    if item["status"] not in IN_PROGRESS:
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/assets/{asset}/report", response_class=HTMLResponse)
async def asset_report(asset: str, request: Request, principal: PageUser, services: ServicesDep) -> HTMLResponse:
    item, analysis = await run_in_threadpool(_load, services, principal.org, asset)
    if item is None:
        return _not_found(request)
    ctx = await run_in_threadpool(_context, services, item, analysis)
    return render(request, "asset_report.html", ctx)


# --- media ------------------------------------------------------------------------------------


def _derived(services: Services, item: dict[str, Any], role: str) -> str | None:
    """Key of the creative as a size-capped JPEG ("display"), made once from the original."""
    org, asset = item["org"], item["asset"]
    if role == "display" and item["kind"] == "image":
        source = asset_source(item)
        # Named after the source key: a new upload (a new source) gets a new display image.
        tag = hashlib.sha256(source.encode()).hexdigest()[:12]
        key = f"{asset_prefix(org, asset)}/derived/display-{DISPLAY_LONG_SIDE}-{tag}.jpg"
        if not services.blobs.exists(key):
            decoded = decode_image(services.blobs.read(source), services.settings.max_image_pixels)
            services.blobs.put(key, _jpeg(decoded.image, DISPLAY_LONG_SIDE), "image/jpeg")
        return key
    if role == "poster" and item["kind"] == "video" and isinstance(services.blobs, LocalBlobStore):
        # The player loads nothing until asked (preload="none"); this first frame stands in.
        # Only where the original is a local file: elsewhere it would mean fetching the whole video.
        source = asset_source(item)
        tag = hashlib.sha256(source.encode()).hexdigest()[:12]
        key = f"{asset_prefix(org, asset)}/derived/poster-{DISPLAY_LONG_SIDE}-{tag}.jpg"
        if not services.blobs.exists(key):
            path = _local_path(services.blobs, source)
            if path is None:
                return None
            s = services.settings
            info = probe(path, s.max_video_seconds, s.max_video_pixels)
            first = next(iter_samples(path, info, 1.0, DISPLAY_LONG_SIDE, s.max_video_seconds))
            services.blobs.put(key, _jpeg(Image.fromarray(first.rgb), DISPLAY_LONG_SIDE), "image/jpeg")
        return key
    return None


def _jpeg(image: Image.Image, long_side: int) -> bytes:
    im = image.copy()
    im.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85, optimize=True)
    return buf.getvalue()


def _video_type(container: str) -> str:
    # PyAV names demuxers by family ("mov,mp4,m4a,..."; "matroska,webm"): browsers sniff anyway.
    return "video/webm" if "webm" in container or "matroska" in container else "video/mp4"


def _media_key(services: Services, item: dict[str, Any], role: str) -> tuple[str, str] | None:
    derived = _derived(services, item, role)
    if derived:
        return derived, "image/jpeg"
    version = item.get("result_version")
    stored = services.repo.get_result(item["org"], item["asset"], str(version)) if version else None
    if stored is None:
        return None
    analysis = json.loads(stored["analysis"])
    if role == "source" and item["kind"] == "video":
        return asset_source(item), _video_type(str(analysis.get("container", "")))
    name = result_files(analysis).get(role)
    if name is None:
        return None
    # An unknown kind of file is bytes to download, never a type a browser would render.
    media_type = FILE_TYPES.get(Path(name).suffix, "application/octet-stream")
    return f"{results_prefix(item['org'], item['asset'], str(version))}/{name}", media_type


def _local_path(store: LocalBlobStore, key: str) -> Path | None:
    path = (store.root / check_key(key)).resolve()
    return path if store.root in path.parents and path.is_file() else None


@router.get("/assets/{asset}/media/{role}")
async def asset_media(
    asset: str, role: str, request: Request, principal: FragmentUser, services: ServicesDep
) -> Response:
    """A result file, the original video or a derived image; byte ranges work (video seeking)."""
    item = await run_in_threadpool(services.repo.get_asset, principal.org, asset)
    if item is None:
        return Response("no such asset", 404, media_type="text/plain")
    try:
        found = await run_in_threadpool(_media_key, services, item, role)
    except (BlobNotFoundError, FileNotFoundError, InvalidKeyError, MediaError):
        found = None
    if found is None:
        return Response("no such file", 404, media_type="text/plain")
    key, media_type = found
    if not isinstance(services.blobs, LocalBlobStore):
        return RedirectResponse(services.blobs.presign_download(key), 307)  # the object store serves ranges
    path = _local_path(services.blobs, key)
    if path is None:
        return Response("no such file", 404, media_type="text/plain")
    # Private: the page is per organisation; results under a version never change in place.
    return FileResponse(path, media_type=media_type or None, headers={"Cache-Control": "private, max-age=3600"})
