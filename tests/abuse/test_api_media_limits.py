"""The plan's video length holds against a header that understates it or a file with no
duration; a truncated MP4 is refused at upload, before anything is charged."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from impactlens.errors import MediaError
from impactlens.pipeline.steps import StepContext, prepare_step, probe_step
from impactlens.pipeline.video import video_payload
from impactlens.storage.local import LocalBlobStore
from tests.api_support import World, api_settings, make_world
from tests.video_cases import grey_frames, write_video


def scale_durations(mp4: bytes, factor: float) -> bytes:
    """Rewrites the duration fields of an MP4's headers (mvhd, tkhd, mdhd): the frames and
    their timestamps are untouched, only what the header claims changes."""
    out = bytearray(mp4)
    # Offsets of the duration field after the box type, for version 0 and version 1 boxes.
    offsets = {b"mvhd": (16, 24), b"mdhd": (16, 24), b"tkhd": (20, 28)}
    for box, (v0, v1) in offsets.items():
        i = out.find(box)
        while i != -1:
            version = out[i + 4]
            at = i + 4 + (v1 if version == 1 else v0)
            fmt = ">Q" if version == 1 else ">I"
            size = struct.calcsize(fmt)
            (value,) = struct.unpack(fmt, out[at : at + size])
            out[at : at + size] = struct.pack(fmt, int(value * factor))
            i = out.find(box, i + 4)
    return bytes(out)


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("small", plan="free"))  # free: 60 s videos
    return w


def long_video(tmp_path: Path) -> bytes:
    return write_video(tmp_path / "long.mp4", seconds=70, fps=5, size=(64, 48), frame=grey_frames(64, 48)).read_bytes()


def assert_nothing_kept(world: World, asset: str) -> None:
    o = world.orgs["small"]
    assert list(world.services.blobs.list("orgs/")) == []
    assert world.services.table.query("JOBQ#queued", index="GSI1").items == []
    assert world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["status"] == "awaiting_upload"
    assert world.client.get("/v1/org", headers=o.headers).json()["usage"]["analyses"] == 0


@pytest.mark.parametrize("factor", [0.1, 0.0], ids=["understated", "no duration"])
def test_a_video_longer_than_the_plan_is_refused_whatever_its_header_says(
    world: World, tmp_path: Path, factor: float
) -> None:
    o = world.orgs["small"]
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, scale_durations(long_video(tmp_path), factor), "v.mp4")
    assert r.status_code in (413, 422) and r.json()["error"]["code"] == "video_too_long", r.text
    assert_nothing_kept(world, asset)


def test_a_truncated_mp4_is_refused_before_it_is_charged(world: World, tmp_path: Path) -> None:
    o = world.orgs["small"]
    video = write_video(tmp_path / "v.mp4", seconds=6.0, size=(320, 240), faststart=True).read_bytes()
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, video[: len(video) // 3], "cut.mp4")
    assert r.status_code == 422 and r.json()["error"]["code"] == "truncated_media", r.text
    assert_nothing_kept(world, asset)
    assert world.upload(o, asset, video, "whole.mp4").status_code == 202


def test_the_analysis_stops_decoding_once_the_plan_length_is_passed(tmp_path: Path) -> None:
    settings = api_settings(tmp_path)
    path = write_video(tmp_path / "v.mp4", seconds=8, fps=5, size=(64, 48), frame=grey_frames(64, 48))
    lying = tmp_path / "lying.mp4"
    lying.write_bytes(scale_durations(path.read_bytes(), 0.0))
    blobs = LocalBlobStore(tmp_path / "work", b"k" * 32)
    ctx = StepContext(blobs, settings, engine=lambda: pytest.fail("no models needed"), scratch=str(tmp_path))
    payload = video_payload("j1", {"path": str(lying)}, "v", [], settings)
    payload["options"]["max_seconds"] = 5.0  # the plan's limit travels with the job
    with pytest.raises(MediaError) as err:
        prepare_step(probe_step(payload, ctx), ctx)
    assert err.value.code == "video_too_long"


def test_the_plan_limit_recorded_at_upload_stops_the_jobs_decode(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    o = world.add_org("acme")
    world.campaign(o)
    video = write_video(tmp_path / "v.mp4", seconds=4, fps=5, size=(64, 48), frame=grey_frames(64, 48))
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, video.read_bytes(), "v.mp4").status_code == 202
    stored = world.services.repo.get_asset("acme", asset) or {}
    assert stored["max_video_s"] == 600  # enterprise
    # As if the decode found more than the upload's packet scan did: the job holds the line.
    world.services.repo.update_asset("acme", asset, {"max_video_s": 2.0})
    world.run_jobs()
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "failed" and got["error"]["code"] == "video_too_long", got
