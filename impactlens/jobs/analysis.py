"""What a job does: run the engine on an asset's stored bytes and record the results.

Results are written under a key that depends only on the asset and the model version, and
the asset's scores are set last, so running a job twice (a retry, or a worker that lost its
lease) writes the same things again rather than twice.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from typing import Any

import numpy as np

from ..db.repository import ConflictError, NotFoundError
from ..engine.image import ImageEngine, attention_shares
from ..engine.types import AOI, ImageAnalysis, VideoAnalysis
from ..engine.video import video_attention
from ..errors import MediaError
from ..media.heatmap import Density, render_pngs
from ..media.image_io import decode_image
from ..media.video_io import target_size
from ..pipeline.chunks import load_result
from ..pipeline.local import VideoRunner
from ..pipeline.steps import Progress, no_progress
from ..pipeline.video import video_payload
from ..services import Services
from ..settings import Settings
from .guard import AssetGoneError, GuardedBlobs


def source_key(org: str, asset: str) -> str:
    return f"orgs/{org}/assets/{asset}/source"


def asset_source(asset: dict[str, Any]) -> str:
    """The key of the asset's original: each upload has its own (set when it was accepted)."""
    return str(asset.get("source") or source_key(asset["org"], asset["asset"]))


def asset_prefix(org: str, asset: str) -> str:
    return f"orgs/{org}/assets/{asset}"


def model_version(settings: Settings) -> str:
    from ..models.registry import get_spec

    mem = get_spec(settings.memorability_model, settings.variant)
    sal = get_spec(settings.saliency_model, settings.variant)
    raw = f"{mem.name}-{mem.version}-{mem.variant}_{sal.name}-{sal.version}-{sal.variant}"
    return re.sub(r"[^A-Za-z0-9._-]", "-", raw)


def results_prefix(org: str, asset: str, version: str) -> str:
    return f"{asset_prefix(org, asset)}/results/{version}"


def analyse_image_asset(
    services: Services, engine: ImageEngine, asset: dict[str, Any], prefix: str
) -> tuple[dict[str, Any], dict[str, float]]:
    s = services.settings
    decoded = decode_image(services.blobs.read(asset_source(asset)), s.max_image_pixels)
    aois = [AOI.model_validate(a) for a in asset.get("aois", [])]
    outcome = engine.analyse(decoded, aois, asset.get("name", asset["asset"]))
    assert outcome.grid is not None
    buf = io.BytesIO()
    np.save(buf, outcome.grid.astype(np.float32), allow_pickle=False)
    services.blobs.put(f"{prefix}/grid.npy", buf.getvalue(), "application/octet-stream")
    for name, png in render_pngs(outcome.full_image or (lambda: outcome.image), outcome.density):
        services.blobs.put(f"{prefix}/{name}.png", png, "image/png")
    a = outcome.analysis
    a.outputs = {"saliency": "saliency.png", "heatmap": "heatmap.png"}
    scores = {"memorability": a.memorability, "memorability_percentile": a.memorability_percentile}
    return a.model_dump(mode="json"), scores


def analyse_video_asset(
    services: Services, runner: VideoRunner, asset: dict[str, Any], prefix: str, job: str, progress: Progress
) -> tuple[dict[str, Any], dict[str, float]]:
    s = services.settings
    aois = [AOI.model_validate(a) for a in asset.get("aois", [])]
    payload = video_payload(job, {"blob": asset_source(asset)}, asset.get("name", ""), aois, s)
    if asset.get("max_video_s"):
        payload["options"]["max_seconds"] = float(asset["max_video_s"])  # the plan's limit, checked while decoding
    payload["work_prefix"] = f"work/{job}"
    payload["output_prefix"] = prefix
    result = runner.run(payload, progress, blobs=services.blobs)["result"]
    v = VideoAnalysis.model_validate(result)
    for c in v.chunks:
        mem = [p.memorability for p in v.timeline if c.start_s <= p.t < c.end_s]
        services.repo.put_segment(
            asset["org"], asset["asset"], int(round(c.start_s * 1000)), {"memorability": float(np.mean(mem))}
        )
    scores = {
        "memorability": v.memorability,
        "memorability_percentile": v.memorability_percentile,
        "memorability_first_3s": v.memorability_first_3s,
    }
    return result, scores


def recompute_attention(
    services: Services, org: str, asset_id: str, aois: list[AOI], expect_aois: list[Any] | None = None
) -> dict[str, Any]:
    """New AOI shares from the stored saliency; the models are not run. Returns the result.

    ``expect_aois``: store only while the asset's AOIs are still exactly these (ConflictError,
    nothing stored, once they are not)."""
    asset = services.repo.get_asset(org, asset_id)
    version = asset.get("result_version") if asset else None
    stored = services.repo.get_result(org, asset_id, version) if version else None
    if asset is None or stored is None:
        raise LookupError("no results yet")
    result = json.loads(stored["analysis"])
    prefix = results_prefix(org, asset_id, version)  # type: ignore[arg-type]
    if asset["kind"] == "image":
        grid = np.load(io.BytesIO(services.blobs.read(f"{prefix}/grid.npy")), allow_pickle=False)
        density = Density(grid, int(result["width"]), int(result["height"]))
        result["attention"] = [a.model_dump() for a in attention_shares(density, aois)]
        ImageAnalysis.model_validate(result)
    else:
        saved = load_result(services.blobs.read(f"{prefix}/saliency.npz"))
        display = (int(result["width"]), int(result["height"]))
        frame = tuple(stored.get("frame_size") or target_size(*display, services.settings.video_long_side))
        shares = video_attention(saved.t, saved.grids, aois, display, (int(frame[0]), int(frame[1])))
        result["attention"] = [a.model_dump() for a in shares]
        VideoAnalysis.model_validate(result)
    # The shares and the AOIs they are for are written together: of two edits at once, the
    # later leaves both (one after the other, the result of one could sit beside the other's AOIs).
    services.repo.put_result(
        org,
        asset_id,
        str(version),
        {**stored, "analysis": json.dumps(result)},
        {"aois": [a.model_dump() for a in aois]},
        expect_aois=expect_aois,
    )
    out: dict[str, Any] = result
    return out


def run_analysis(
    services: Services,
    job: dict[str, Any],
    engine: ImageEngine,
    runner: VideoRunner,
    progress: Progress = no_progress,
) -> dict[str, Any] | None:
    """Analyse the job's asset; None when the asset was deleted meanwhile (nothing to do).

    Every output blob is checked against a deletion right after it is written, and once more
    at the end, so a run whose asset is deleted midway leaves nothing behind.
    """
    repo = services.repo
    asset = repo.get_asset(job["org"], job["asset"])
    if asset is None:
        return None
    version = model_version(services.settings)
    prefix = results_prefix(job["org"], job["asset"], version)

    def alive() -> bool:
        return repo.get_asset(job["org"], job["asset"]) is not None

    guarded = dataclasses.replace(services, blobs=GuardedBlobs(services.blobs, prefix, alive))
    try:
        outcome = _analyse(guarded, job, asset, engine, runner, progress, version, prefix)
    except (AssetGoneError, NotFoundError):
        outcome = None
    if outcome is None or not alive():
        # Deleted (or moved to another organisation) while it ran: drop what this run wrote.
        _drop_outputs(services, job, prefix)
        return None
    return outcome


def _analyse(
    services: Services,
    job: dict[str, Any],
    asset: dict[str, Any],
    engine: ImageEngine,
    runner: VideoRunner,
    progress: Progress,
    version: str,
    prefix: str,
) -> dict[str, Any]:
    repo = services.repo
    if asset["kind"] == "image":
        result, scores = analyse_image_asset(services, engine, asset, prefix)
    elif asset["kind"] == "video":
        result, scores = analyse_video_asset(services, runner, asset, prefix, job["job"], progress)
    else:
        raise MediaError(f"unknown asset kind {asset['kind']!r}", "unsupported_media")
    extra: dict[str, Any] = {}
    if asset["kind"] == "video":
        extra["frame_size"] = list(
            target_size(int(result["width"]), int(result["height"]), services.settings.video_long_side)
        )
    repo.put_result(
        job["org"], job["asset"], version, {"model_version": version, "analysis": json.dumps(result), **extra}
    )
    repo.update_asset(
        job["org"], job["asset"], {"scores": scores, "status": "done", "result_version": version}, remove=["error"]
    )
    # AOIs replaced while this ran (PUT /aois before there were results only stores them):
    # count the current ones from the saliency just stored, as an edit after it would.
    latest = repo.get_asset(job["org"], job["asset"])
    if latest is not None and latest.get("aois", []) != asset.get("aois", []):
        aois = [AOI.model_validate(a) for a in latest["aois"]]
        try:
            # Only while the AOIs are still the ones just read: a PUT may replace them now.
            recompute_attention(services, job["org"], job["asset"], aois, expect_aois=latest["aois"])
        except ConflictError:
            # A PUT changed them after that read. result_version was already set, so it could
            # not store them as "no results yet" (that write requires result_version absent):
            # it measured its AOIs on the saliency stored above and wrote them with their
            # shares. Nothing is left to count, and writing ours would undo the user's edit.
            pass
    return {"scores": scores, "model_version": version}


def _drop_outputs(services: Services, job: dict[str, Any], prefix: str) -> None:
    for blob in list(services.blobs.list(prefix + "/")):
        services.blobs.delete(blob.key)
    if services.table.get(f"ASSET#{job['asset']}", "METADATA") is None:
        for item in services.table.query(f"ASSET#{job['asset']}", limit=1000).items:
            services.table.delete(item["PK"], item["SK"])
