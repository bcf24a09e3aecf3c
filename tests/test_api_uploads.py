"""Bad uploads through the API: a precise 4xx, and nothing left in storage or the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from impactlens.accounts import PLANS, Plan
from tests import media_cases as m
from tests.api_support import World, make_world
from tests.video_cases import write_audio_only, write_video


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("acme"))
    return w


def _video(tmp: Path, seconds: float) -> bytes:
    return write_video(tmp / "v.mp4", seconds=seconds, size=(320, 240)).read_bytes()


CASES = {
    "empty file": (lambda t: b"", 422, "empty_file"),
    "text, not media": (lambda t: b"hello, this is not an image at all" * 10, 415, "unsupported_media"),
    "truncated jpeg": (lambda t: m.truncated_jpeg(), 422, "corrupt_image"),
    "huge image header": (lambda t: m.huge_png_header(), 413, "image_too_large"),
    "tiny image": (lambda t: m.jpeg(m.photo(8, 8)), 422, "image_too_small"),
    "audio only": (lambda t: write_audio_only(t / "a.m4a").read_bytes(), 415, "no_video_stream"),
    "truncated video": (lambda t: _video(t, 2.0)[:2000], 422, "corrupt_media"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_upload_is_refused_precisely_and_leaves_nothing(world: World, tmp_path: Path, case: str) -> None:
    make, status, code = CASES[case]
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, make(tmp_path), "upload.bin")
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert list(world.services.blobs.list("orgs/")) == []
    assert world.services.table.query("JOBQ#queued", index="GSI1").items == []
    got = world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
    assert got["status"] == "awaiting_upload" and got["kind"] == "unknown"
    assert world.services.table.get("ORG#acme", next(iter(_usage_keys(world)), "none")) is None
    # The asset is still usable: a good upload goes through.
    assert world.upload(o, asset, m.jpeg()).status_code == 202


def test_a_file_that_is_neither_image_nor_video_is_told_both_formats(world: World) -> None:
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, b"meeting notes, not an ad\n" * 20, "notes.txt")
    error = r.json()["error"]
    assert (r.status_code, error["code"]) == (415, "unsupported_media")
    assert "image format" in error["message"] and "JPEG" in error["message"] and "MP4" in error["message"]


def _usage_keys(world: World) -> list[str]:
    return [i["SK"] for i in world.services.table.query("ORG#acme").items if i["SK"].startswith("USAGE#")]


def test_video_longer_than_the_plan_allows_is_refused(world: World, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(PLANS, "enterprise", Plan("enterprise", 2000, 4000, None, 2**30, 1.0))
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, _video(tmp_path, 2.0), "long.mp4")
    assert r.status_code == 422 and r.json()["error"]["code"] == "video_too_long"
    assert list(world.services.blobs.list("orgs/")) == []


def test_upload_over_the_plan_size_gets_413_before_storing(world: World, monkeypatch) -> None:
    monkeypatch.setitem(PLANS, "enterprise", Plan("enterprise", 2000, 4000, None, 10_000, 600))
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, m.jpeg(m.photo(1200, 900)))
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"
    assert list(world.services.blobs.list("orgs/")) == []
    scratch = world.services.settings.data_dir / "tmp"
    assert not scratch.exists() or list(scratch.iterdir()) == []


def test_upload_must_be_multipart_with_a_file_field(world: World) -> None:
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    r = world.client.post(
        f"/v1/assets/{asset}/upload", content=m.jpeg(), headers={**o.headers, "Content-Type": "image/jpeg"}
    )
    assert r.status_code == 415
    r = world.client.post(
        f"/v1/assets/{asset}/upload", data={"other": "x"}, files={"nofile": ("a", b"x")}, headers=o.headers
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_file"
