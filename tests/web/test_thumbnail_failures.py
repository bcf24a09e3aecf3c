"""A card's thumbnail whose source will not decode: the library shows a placeholder, and the
source is not decoded again on every view (each decode may cost up to max_image_pixels)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from impactlens.api.deps import SESSION_COOKIE
from impactlens.jobs.analysis import asset_prefix
from impactlens.storage.local import LocalBlobStore
from tests.api_support import PASSWORD, World, make_world_with_blobs
from tests.media_cases import jpeg


class CountingReads(LocalBlobStore):
    """The real local store, counting whole reads and streamed gets of one key."""

    watched = ""
    reads = 0

    def read(self, key: str) -> bytes:
        self.reads += key == self.watched
        return super().read(key)


def _world(tmp_path: Path) -> tuple[World, CountingReads, TestClient, str]:
    world, blobs = make_world_with_blobs(tmp_path, CountingReads)
    services = world.services
    o = world.add_org("acme")
    world.campaign(o)
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, jpeg(), "ad.jpg").status_code == 202
    token, _ = services.accounts.login(o.admin_email, PASSWORD)
    return world, blobs, TestClient(world.client.app, cookies={SESSION_COOKIE: token}), asset


def test_a_source_that_will_not_decode_is_tried_once_then_shows_the_placeholder(tmp_path: Path) -> None:
    world, blobs, user, asset = _world(tmp_path)
    item = world.services.repo.get_asset("acme", asset)
    assert item is not None
    blobs.watched = str(item["source"])
    blobs.put(blobs.watched, b"\xff\xd8\xff not a picture any more", "image/jpeg")  # damaged at rest
    first = [user.get(f"/thumbs/{asset}") for _ in range(3)]
    assert [(r.status_code, r.headers["content-type"]) for r in first] == [(200, "image/svg+xml")] * 3
    assert blobs.reads == 1


def test_a_new_upload_of_the_asset_is_tried_again(tmp_path: Path) -> None:
    world, blobs, user, asset = _world(tmp_path)
    item = world.services.repo.get_asset("acme", asset)
    assert item is not None
    blobs.put(str(item["source"]), b"junk", "image/jpeg")
    assert user.get(f"/thumbs/{asset}").headers["content-type"] == "image/svg+xml"
    # The failure is remembered for that source only: a marker naming another source is stale.
    failed = [b.key for b in blobs.list(asset_prefix("acme", asset)) if b.key.endswith(".failed")]
    assert len(failed) == 1
    blobs.put(failed[0], b"orgs/acme/assets/other-upload", "text/plain")
    blobs.put(str(item["source"]), jpeg(), "image/jpeg")
    again = user.get(f"/thumbs/{asset}")
    assert again.status_code == 200 and again.headers["content-type"] == "image/jpeg"


def test_the_failure_marker_goes_with_the_asset(tmp_path: Path) -> None:
    world, blobs, user, asset = _world(tmp_path)
    item = world.services.repo.get_asset("acme", asset)
    assert item is not None
    blobs.put(str(item["source"]), b"junk", "image/jpeg")
    user.get(f"/thumbs/{asset}")
    o = world.orgs["acme"]
    assert world.client.delete(f"/v1/assets/{asset}", headers=o.headers).status_code in (200, 204)
    assert [b.key for b in blobs.list("orgs/acme/assets/")] == []
