"""The chaos harness: a real ``impactlens serve`` on 127.0.0.1 killed with SIGKILL at seeded
random moments while clients upload (twice at once), retry completions, move and delete the
same assets; then the whole state is checked. Used by tests/abuse/test_chaos.py (a few kill
points) and bench/abuse.py (many).
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from impactlens.cli import main; sys.exit(main())"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _status_kb(pid: int, field_name: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class Server:
    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    peak_rss_kb: int = 0  # the largest sampled resident size of the server and its workers
    ever_children: set[int] = field(default_factory=set)
    _sampler: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        args = [*CLI, "serve", "--no-demo", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir)]
        log = open(self.data_dir.parent / "serve.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **self.env}, stdout=log, stderr=log)  # noqa: S603
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not come up")
        self._stop.clear()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            if self.proc is None:
                return
            pids = _tree(self.proc.pid)
            self.ever_children.update(pids[1:])
            self.peak_rss_kb = max(self.peak_rss_kb, sum(_status_kb(p, "VmRSS") for p in pids))

    def kill(self) -> None:
        assert self.proc is not None
        self.ever_children.update(_tree(self.proc.pid)[1:])
        self.peak_rss_kb = max(self.peak_rss_kb, _status_kb(self.proc.pid, "VmHWM"))
        self._stop.set()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.ever_children.update(_tree(self.proc.pid)[1:])
            self.peak_rss_kb = max(self.peak_rss_kb, _status_kb(self.proc.pid, "VmHWM"))
            self._stop.set()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None


def image(rng: random.Random) -> bytes:
    """A small photo-like JPEG, different for every asset."""
    h, w = rng.randint(120, 240), rng.randint(120, 240)
    gen = np.random.default_rng(rng.randint(0, 2**31))
    base = gen.integers(0, 255, (h // 8 + 1, w // 8 + 1, 3), dtype=np.uint8)
    big = Image.fromarray(base).resize((w, h), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


@dataclass
class Outcome:
    runs: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    usage: int = 0
    jobs: int = 0
    aggregates_match: bool = False
    peak_rss_mb: float = 0.0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"runs={self.runs} lost={len(self.lost)} duplicated={len(self.duplicated)} "
            f"orphans={len(self.orphans)} peak_rss_mb={self.peak_rss_mb:.0f}"
        )


class Chaos:
    def __init__(
        self,
        workdir: Path,
        seed: int,
        assets: int,
        kills: int,
        threads: int = 3,
        video_workers: int = 0,
        videos: float = 0.0,
    ):
        self.videos = videos  # the share of assets that are (short) videos
        self.rng = random.Random(seed)
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.assets = assets
        self.kills = kills
        self.threads = threads
        env = {
            "IMPACTLENS_WORKERS": str(video_workers),
            "IMPACTLENS_JOB_LEASE_S": "2",
            "IMPACTLENS_JOB_RETRY_BASE_S": "0.2",
            # Kills are the point here; the attempt cap has its own test.
            "IMPACTLENS_JOB_MAX_ATTEMPTS": "1000",
            "IMPACTLENS_THREADS": "1",
            "IMPACTLENS_WEBHOOK_THREADS": "0",
        }
        self.server = Server(self.data_dir, env)
        self.key = ""
        self.accepted: set[str] = set()  # assets whose upload answered 202
        self.deleted: set[str] = set()  # assets whose delete answered 204 (or 404 after a 204 was lost)
        self.created: list[str] = []
        self.lock = threading.Lock()
        self.down = threading.Event()
        self.outcome = Outcome()

    # Set-up and the client --------------------------------------------------------------------
    def _cli(self, *args: str) -> Any:
        out = subprocess.run([*CLI, "admin", "--data-dir", str(self.data_dir), *args], cwd=ROOT,  # noqa: S603
                             check=True, capture_output=True, text=True, timeout=120).stdout
        return json.loads(out)

    def setup(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._cli("create-org", "chaos", "--plan", "enterprise")
        self.key = self._cli("create-key", "chaos", "--role", "Admin")["key"]
        self.server.start()
        for path, body in (("/v1/brands", {"brand": "b", "name": "B"}),
                           ("/v1/brands/b/campaigns", {"campaign": "c1", "name": "C1"}),
                           ("/v1/brands/b/campaigns", {"campaign": "c2", "name": "C2"})):
            r = self.call("POST", path, json=body)
            assert r.status_code == 201, r.text

    def call(self, method: str, path: str, deadline_s: float = 240.0, **kw: Any) -> httpx.Response:
        """A request, retried while the server is down (connection refused or cut)."""
        end = time.time() + deadline_s
        while True:
            try:
                return httpx.request(method, self.server.url + path, headers={"Authorization": f"Bearer {self.key}"},
                                     timeout=60.0, **kw)
            except httpx.HTTPError:
                if time.time() > end:
                    raise
                time.sleep(0.2)

    # The workload -----------------------------------------------------------------------------
    def _life_of_an_asset(self, n: int, rng: random.Random) -> None:
        r = self.call("POST", "/v1/assets", json={"brand": "b", "campaign": "c1", "name": f"ad-{n}"})
        if r.status_code != 201:
            self.outcome.notes.append(f"create answered {r.status_code}: {r.text[:200]}")
            return
        asset = r.json()["asset"]
        with self.lock:
            self.created.append(asset)
        if rng.random() < self.videos:
            from tests.video_cases import write_video

            path = self.workdir / f"v{n}.mp4"
            write_video(path, seconds=rng.uniform(2.0, 4.0), fps=10, size=(160, 120), faststart=True)
            data, name = path.read_bytes(), "ad.mp4"
        else:
            data, name = image(rng), "ad.jpg"

        def upload() -> None:
            files = {"file": (name, io.BytesIO(data), "application/octet-stream")}
            resp = self.call("POST", f"/v1/assets/{asset}/upload", files=files)
            if resp.status_code == 202:
                with self.lock:
                    self.accepted.add(asset)
            elif resp.status_code not in (409, 429, 503):
                self.outcome.notes.append(f"upload answered {resp.status_code}: {resp.text[:200]}")

        racers = [threading.Thread(target=upload, daemon=True) for _ in range(2)]  # two uploads at once
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        for _ in range(rng.randint(0, 2)):  # a client retrying the completion call
            self.call("POST", f"/v1/assets/{asset}/uploaded")
        time.sleep(rng.uniform(0, 0.5))
        if rng.random() < 0.4:
            self.call("POST", f"/v1/assets/{asset}/move", json={"brand": "b", "campaign": rng.choice(["c1", "c2"])})
        if rng.random() < 0.25:
            time.sleep(rng.uniform(0, 1.0))
            r = self.call("DELETE", f"/v1/assets/{asset}")
            if r.status_code in (204, 404):
                with self.lock:
                    self.deleted.add(asset)

    def run(self) -> Outcome:
        try:
            return self._run()
        finally:
            if self.server.proc is not None:  # a failure midway: never leave a server behind
                self.server.kill()

    def _run(self) -> Outcome:
        self.setup()
        seeds = [self.rng.randint(0, 2**31) for _ in range(self.assets)]
        kill_gaps = [self.rng.uniform(0.5, 3.0) for _ in range(self.kills)]
        todo = list(enumerate(seeds))
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    if not todo:
                        return
                    n, s = todo.pop(0)
                self._life_of_an_asset(n, random.Random(s))

        clients = [threading.Thread(target=client, daemon=True) for _ in range(self.threads)]
        for t in clients:
            t.start()
        for gap in kill_gaps:
            time.sleep(gap)
            self.server.kill()
            self.outcome.runs += 1
            self._restart()
        for t in clients:
            t.join(600)
        self.wait_idle(120.0)
        # One more restart: start-up sweeps what killed runs left, then a clean stop.
        self.server.kill()
        self._restart()
        self.wait_idle()
        self.server.stop()
        self.outcome.peak_rss_mb = self.server.peak_rss_kb / 1024
        return self.check()

    def _restart(self) -> None:
        for attempt in range(3):
            try:
                self.server.start()
                return
            except RuntimeError as exc:  # recorded: a start-up that fails after a kill is a finding
                self.outcome.notes.append(f"restart {self.outcome.runs} attempt {attempt + 1}: {exc}")
                time.sleep(2)
        raise RuntimeError("the server does not start any more")

    def _table(self) -> Any:
        from impactlens.db.sqlite import SqliteTable

        return SqliteTable(self.data_dir / "impactlens.db")

    def wait_idle(self, timeout: float = 180.0) -> bool:
        from impactlens.db.aggregates import read_aggregates, recompute
        from impactlens.db.table import iterate

        table = self._table()
        try:
            end = time.time() + timeout
            while time.time() < end:
                busy = table.query("JOBQ#queued", index="GSI1").items + table.query("JOBQ#running", index="GSI1").items
                assets = list(iterate(table, "ORG#chaos", index="GSI1"))
                metas = [table.get(a["PK"], "METADATA") for a in assets]
                if not busy and _aggregates_equal(recompute([m for m in metas if m]), read_aggregates(table, "chaos")):
                    return True
                time.sleep(0.3)
        finally:
            table.close()
        self.outcome.notes.append(f"jobs or aggregates did not settle within {timeout:.0f} s")
        return False

    # The verdict ------------------------------------------------------------------------------
    def check(self) -> Outcome:
        from impactlens.db.aggregates import read_aggregates, recompute
        from impactlens.db.table import iterate
        from impactlens.storage.local import LocalBlobStore

        o = self.outcome
        table = self._table()
        blobs = LocalBlobStore(self.data_dir / "blobs", b"x" * 32)
        try:
            metas = {a["asset"]: a for a in iterate(table, "ORG#chaos", index="GSI1")}
            jobs: dict[str, list[dict[str, Any]]] = {}
            for state in ("queued", "running", "done", "failed"):
                for j in iterate(table, f"JOBQ#{state}", index="GSI1"):
                    jobs.setdefault(j["asset"], []).append(j)
            o.jobs = sum(len(v) for v in jobs.values())
            month = time.strftime("%Y-%m", time.gmtime())
            o.usage = int((table.get("ORG#chaos", f"USAGE#{month}") or {}).get("analyses", 0))
            for asset, meta in metas.items():
                accepted = bool(jobs.get(asset)) or meta.get("status") not in ("awaiting_upload", "created")
                if not accepted:
                    continue
                children = table.query(f"ASSET#{asset}", limit=1000).items
                results = [c for c in children if c["SK"].startswith("RESULT#")]
                source = meta.get("source")
                if meta.get("status") != "done" or len(results) != 1 or not source or not blobs.exists(source):
                    o.lost.append(f"{asset}: status {meta.get('status')}, {len(results)} results, source {source}")
                if len(jobs.get(asset, [])) > 1:
                    o.duplicated.append(f"{asset}: {len(jobs[asset])} jobs")
            for asset in self.accepted - self.deleted:
                if asset not in metas:
                    o.lost.append(f"{asset}: accepted (202) and never deleted, but gone")
            if o.usage != o.jobs:
                o.duplicated.append(f"usage {o.usage} != accepted uploads {o.jobs}")
            o.orphans += self._orphan_blobs(blobs, metas)
            for sub in ("scratch", "tmp"):
                folder = self.data_dir / sub
                if folder.is_dir():
                    o.orphans += [f"{sub}/{p.name}" for p in folder.iterdir()]
            o.orphans += [str(p) for p in (self.data_dir / "blobs").rglob("*.partial")]
            o.orphans += [f"process {p}" for p in sorted(self.server.ever_children) if alive(p)]
            for asset in self.created:
                if asset not in metas and table.query(f"ASSET#{asset}", limit=10).items:
                    o.orphans.append(f"table items of deleted asset {asset}")
            o.aggregates_match = _aggregates_equal(recompute(metas.values()), read_aggregates(table, "chaos"))
        finally:
            table.close()
        return o

    @staticmethod
    def _orphan_blobs(blobs: Any, metas: dict[str, dict[str, Any]]) -> list[str]:
        out = []
        for b in blobs.list(""):
            parts = b.key.split("/")
            if parts[0] == "work":
                out.append(b.key)
                continue
            if len(parts) < 5 or parts[0] != "orgs" or parts[2] != "assets":
                continue
            meta = metas.get(parts[3])
            if meta is None or meta.get("org") != parts[1]:
                out.append(b.key)
            elif parts[4] == "results":
                if len(parts) < 6 or parts[5] != meta.get("result_version"):
                    out.append(b.key)
            elif b.key != meta.get("source") and parts[4] != "incoming":
                out.append(b.key)
        return out


def _aggregates_equal(expected: dict[tuple[str, str], dict[str, int]], stored: dict[tuple[str, str], Any]) -> bool:
    """Exact (integer sums); an attribute at zero equals a missing one."""
    for key in set(expected) | set(stored):
        e, g = expected.get(key, {}), stored.get(key, {})
        for attr in set(e) | {a for a in g if a.split("__")[0] in ("count", "n", "sum", "sumsq")}:
            if int(g.get(attr, 0)) != int(e.get(attr, 0)):
                return False
    return True


def run_chaos(workdir: Path, seed: int, assets: int, kills: int, **kw: Any) -> Outcome:
    return Chaos(workdir, seed, assets, kills, **kw).run()


Report = Callable[[Outcome], None]
