"""Issue 10.12 (jobs): ``kill -9`` of the server must not orphan its video worker processes
(each holds the models, ~380 MB), and what killed runs left in scratch is swept at start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.api_support import make_world

ROOT = Path(__file__).resolve().parents[2]

SERVER = """
import sys, multiprocessing
from impactlens.pipeline.local import VideoRunner
from impactlens.settings import get_settings
from impactlens.storage.local import LocalBlobStore
runner = VideoRunner(get_settings(), LocalBlobStore(sys.argv[1], b"k" * 32), workers=2)
runner.warm_up()
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
sys.stdin.read()
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_video_workers_die_when_the_server_is_killed(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(tmp_path / "blobs")],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    children: list[int] = []
    try:
        assert proc.stdout is not None
        children = [int(p) for p in proc.stdout.readline().split()]
        assert len(children) >= 2 and all(_alive(p) for p in children)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.time() + 15
        while time.time() < deadline and any(_alive(p) for p in children):
            time.sleep(0.1)
        assert not any(_alive(p) for p in children), "worker processes outlived the server"
    finally:
        proc.kill()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_scratch_of_runs_that_are_not_running_is_swept_at_start(tmp_path: Path) -> None:
    world = make_world(tmp_path, job_lease_s=60.0)
    o = world.add_org("acme")
    world.campaign(o)
    data = Path(world.services.settings.data_dir)
    repo = world.services.repo
    live = repo.create_job("acme", "a1", "analyse")
    claimed = repo.claim_job("another-live-process", 60.0)
    assert claimed is not None and claimed["job"] == live["job"]
    dead = repo.create_job("acme", "a2", "analyse")["job"]
    for job in (live["job"], dead, "01UNKNOWNJOB"):
        (data / "scratch" / job).mkdir(parents=True)
        (data / "scratch" / job / "source.video").write_bytes(b"x" * 1000)
    (data / "tmp").mkdir(exist_ok=True)
    (data / "tmp" / "upload-abc").write_bytes(b"half an upload")
    partial = data / "blobs" / "orgs" / "acme" / "assets" / "a2" / ".source.x1y2.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a blob")
    world.services.blobs.put(f"work/{dead}/chunks/00000.npz", b"chunk")
    world.worker.start(0)
    world.worker.stop(5)
    assert sorted(p.name for p in (data / "scratch").iterdir()) == [live["job"]]
    assert not (data / "tmp" / "upload-abc").exists() and not partial.exists()
    assert list(world.services.blobs.list("work/")) == []
