"""Issue 10.10: an asset deleted while its analysis runs leaves no outputs behind, whenever
during the run the delete lands (a video used to leave 8 files under its results)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest
from fastapi.testclient import TestClient

from impactlens.api import create_app
from impactlens.db.sqlite import SqliteTable
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services
from impactlens.storage.base import BlobInfo
from impactlens.storage.local import LocalBlobStore
from tests.api_support import World, api_settings
from tests.media_cases import jpeg
from tests.video_cases import write_video


class DeleteOnWrite(LocalBlobStore):
    """Deletes the asset through the API right after the ``nth`` write under its results:
    a user deleting a video while the analysis writes its outputs."""

    world: World | None = None
    asset = ""
    nth = 1
    seen = 0

    def put(self, key: str, data: bytes | BinaryIO, content_type: str | None = None) -> BlobInfo:
        info = super().put(key, data, content_type)
        if "/results/" in key and self.world is not None:
            self.seen += 1
            if self.seen == self.nth:
                w, self.world = self.world, None
                assert w.client.delete(f"/v1/assets/{self.asset}", headers=w.orgs["acme"].headers).status_code == 204
        return info


def _world(tmp_path: Path) -> tuple[World, DeleteOnWrite]:
    settings = api_settings(tmp_path, video_chunk_seconds=2.0)
    settings.data_dir.mkdir(parents=True)
    blobs = DeleteOnWrite(settings.data_dir / "blobs", b"k" * 32)
    services = Services(settings, SqliteTable(settings.data_dir / "t.db"), blobs)
    world = World(services, TestClient(create_app(services)), JobWorker(services, "w1"))
    world.campaign(world.add_org("acme"))
    return world, blobs


def _assert_nothing_left(world: World, asset: str) -> None:
    leftover = [b.key for b in world.services.blobs.list("orgs/")] + [b.key for b in world.services.blobs.list("work/")]
    assert leftover == []
    assert world.services.table.query(f"ASSET#{asset}").items == []
    job = world.services.table.query("JOBQ#running", index="GSI1").items + world.services.table.query(
        "JOBQ#queued", index="GSI1"
    ).items
    assert job == []


@pytest.mark.parametrize("nth", [1, 3, 99])
def test_video_deleted_while_its_outputs_are_written_leaves_nothing(tmp_path: Path, nth: int) -> None:
    world, blobs = _world(tmp_path)
    video = write_video(tmp_path / "v.mp4", seconds=5.0, size=(160, 120)).read_bytes()
    asset = world.asset(world.orgs["acme"])["asset"]
    assert world.upload(world.orgs["acme"], asset, video, "v.mp4").status_code == 202
    blobs.world, blobs.asset, blobs.nth = world, asset, nth
    world.run_jobs()
    world.run_jobs()  # a retry, had the first run failed
    if nth == 99:
        blobs.world = None  # never reached: the run completes, then the user deletes it
        assert world.client.delete(f"/v1/assets/{asset}", headers=world.orgs["acme"].headers).status_code == 204
    _assert_nothing_left(world, asset)


@pytest.mark.parametrize("nth", [1, 2, 3])
def test_image_deleted_while_its_outputs_are_written_leaves_nothing(tmp_path: Path, nth: int) -> None:
    world, blobs = _world(tmp_path)
    asset = world.asset(world.orgs["acme"])["asset"]
    assert world.upload(world.orgs["acme"], asset, jpeg()).status_code == 202
    blobs.world, blobs.asset, blobs.nth = world, asset, nth
    world.run_jobs()
    world.run_jobs()
    _assert_nothing_left(world, asset)
