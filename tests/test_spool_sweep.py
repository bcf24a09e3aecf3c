"""A start-up sweep on a shared data dir removes only the temporary files of stopped
processes: an upload spool or half-written blob of a live process survives it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from impactlens.api.uploads import scratch_file
from impactlens.jobs import scratch
from impactlens.storage.owners import FOREIGN_STALE_S
from tests.api_support import make_world

_SERVICES = """
import sys
from pathlib import Path
from impactlens.services import embedded_services
from tests.api_support import api_settings
services = embedded_services(api_settings(Path(sys.argv[1])))
"""
# A process killed while receiving an upload and writing a blob: its files stay behind.
_KILLED = (
    _SERVICES
    + """
import os, threading
from impactlens.api.uploads import scratch_file
scratch_file(services)
class Stalled:
    def read(self, n):
        threading.Event().wait()
threading.Thread(target=services.blobs.put, args=("work/dead/x.bin", Stalled()), daemon=True).start()
while not list(Path(sys.argv[1], "data", "blobs").rglob(".*.partial")):
    pass
os._exit(0)
"""
)
_SWEEP = (
    _SERVICES
    + """
from impactlens.jobs import scratch
print("\\n".join(scratch.sweep(services)))
"""
)


def _run(code: str, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
        check=True,
    )
    return done.stdout


class _Held:
    """A blob body that stalls until released: the put's partial file stays open meanwhile."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sent = False

    def read(self, n: int) -> bytes:
        if not self.sent:
            self.sent = True
            return b"x" * 10
        self.release.wait(30)
        return b""


def test_a_live_processes_spool_survives_another_processes_sweep_and_a_dead_ones_goes(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    data = tmp_path / "data"
    _run(_KILLED, tmp_path)
    dead = {str(p) for p in [*(data / "tmp").glob("upload-*"), *(data / "blobs").rglob(".*.partial")]}
    assert len(dead) == 2

    live_spool = Path(scratch_file(world.services))
    live_spool.write_bytes(b"half an upload")
    body = _Held()
    writer = threading.Thread(target=world.services.blobs.put, args=("assets/live/source", body))
    writer.start()
    try:
        while not list((data / "blobs").rglob(".source.*.partial")):
            pass
        live_partial = next((data / "blobs").rglob(".source.*.partial"))

        removed = set(_run(_SWEEP, tmp_path).split())  # a second server starting on the same dir

        assert live_spool.exists() and live_partial.exists()
        assert removed == dead
        assert not any(Path(p).exists() for p in dead)
    finally:
        body.release.set()
        writer.join(10)
    assert world.services.blobs.read("assets/live/source") == b"x" * 10


def test_a_file_of_another_hosts_process_goes_only_once_a_day_old(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    spools = tmp_path / "data" / "tmp"
    spools.mkdir(parents=True, exist_ok=True)
    other_host = spools / "upload-~1~another-container~abc"
    old = spools / "upload-~1~another-container~old"
    for path in (other_host, old):
        path.write_bytes(b"x")
    stale = time.time() - FOREIGN_STALE_S - 60
    os.utime(old, (stale, stale))

    assert scratch.sweep(world.services) == [str(old)]
    assert other_host.exists()
