"""API load benchmark: the server on loopback, load from a second process.

1. GET /v1/assets (a page of 50, API-key auth, SQLite) at concurrency 32 for 20 s:
   requests/s, p50, p99 — side by side with GET /healthz (no auth, no database) on the same
   server in the same run, the reference for what the framework alone costs here.
2. A burst of 10x a free organisation's plan rate within one second: the share answered
   429, and that nothing answered 5xx.

Last line: ``rps=<x> p99_ms=<y> errors_5xx=<z>``.
Run: .venv/bin/python bench/api_load.py [--seconds 20] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def seed(data_dir: Path) -> dict[str, str]:
    from impactlens.services import embedded_services
    from impactlens.settings import load_settings

    s = embedded_services(load_settings(data_dir=data_dir))
    s.accounts.create_org("load", "Load", "enterprise")
    _, key = s.accounts.create_api_key("load", "bench")
    s.repo.create_brand("load", "b", "B")
    s.repo.create_campaign("load", "b", "c", "C")
    for i in range(200):
        s.repo.create_asset("load", "b", "c", "image", name=f"asset-{i}", status="done", scores={"memorability": 0.5})
    s.accounts.create_org("small", "Small", "free")
    _, small = s.accounts.create_api_key("small", "bench")
    s.close()
    return {"load": key, "small": small}


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _load(port: int, path: str, key: str | None, seconds: float, concurrency: int) -> dict[str, float]:
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = time.perf_counter() + seconds

    async def conn() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < stop:
            t = time.perf_counter()
            status = await _one(reader, writer, request)
            latencies.append(time.perf_counter() - t)
            statuses[status] = statuses.get(status, 0) + 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(conn() for _ in range(concurrency)))
    wall = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
        "errors_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "non_200": sum(n for s, n in statuses.items() if s != 200),
    }


async def _burst(port: int, key: str, n: int) -> dict[str, int]:
    request = f"GET /v1/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(10)]
    statuses: dict[int, int] = {}

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: int) -> None:
        for _ in range(count):
            s = await _one(reader, writer, request)
            statuses[s] = statuses.get(s, 0) + 1

    await asyncio.gather(*(run(r, w, n // len(conns)) for r, w in conns))
    for _, w in conns:
        w.close()
    return statuses


def client_main(args: argparse.Namespace) -> None:
    import uvloop

    keys = json.loads(args.keys)
    out = {
        "healthz": uvloop.run(_load(args.port, "/healthz", None, args.seconds, args.concurrency)),
        "assets": uvloop.run(
            _load(args.port, "/v1/assets?brand=b&campaign=c&limit=50", keys["load"], args.seconds, args.concurrency)
        ),
        "burst": uvloop.run(_burst(args.port, keys["small"], args.burst)),
    }
    print(json.dumps(out))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--client", action="store_true")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--keys", default="{}")
    p.add_argument("--burst", type=int, default=100)
    args = p.parse_args()
    if args.client:
        client_main(args)
        return
    from impactlens.accounts import PLANS

    data = Path(tempfile.mkdtemp(prefix="impactlens-load-"))
    keys = seed(data)
    from tests.aws import free_port

    port = free_port()
    env = {**os.environ, "IMPACTLENS_JOB_WORKERS": "0"}
    cmd = [sys.executable, "-m", "impactlens.cli", "serve", "--data-dir", str(data), "--port", str(port), "--no-demo"]
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        burst = PLANS["free"].requests_per_s * 10
        client = [
            sys.executable, __file__, "--client", "--port", str(port), "--keys", json.dumps(keys),
            "--seconds", str(args.seconds), "--concurrency", str(args.concurrency), "--burst", str(int(burst)),
        ]  # fmt: skip
        result = json.loads(subprocess.run(client, capture_output=True, text=True, check=True).stdout)
    finally:
        server.terminate()
        server.wait(10)
    h, a, b = result["healthz"], result["assets"], result["burst"]
    print(f"cores={os.cpu_count()} concurrency={args.concurrency} seconds={args.seconds} (server + load share them)")
    for label, r in (("GET /healthz (reference)", h), ("GET /v1/assets (50 items, auth)", a)):
        print(f"{label:34s} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms")
    print(f"  /v1/assets vs /healthz throughput: {a['rps'] / h['rps']:.2f}; non-200 answers: {a['non_200']}")
    total = sum(b.values())
    share = b.get("429", 0) / total if total else 0.0
    fivexx = sum(n for s, n in b.items() if int(s) >= 500) + a["errors_5xx"] + h["errors_5xx"]
    rate = PLANS["free"].requests_per_s
    print(f"burst of {total} requests (10x the free plan's {rate:g}/s): {b} -> 429 share {share:.2f}")
    print(f"rps={a['rps']:.0f} p99_ms={a['p99_ms']:.1f} errors_5xx={fivexx}")


if __name__ == "__main__":
    main()
