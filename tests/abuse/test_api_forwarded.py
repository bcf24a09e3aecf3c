"""X-Forwarded-For counts only from configured proxies: a real `impactlens serve` on
127.0.0.1, hammered with failed authentications under rotating forwarded addresses (that
throttle: 5/s per client address, burst 50)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from tests.aws import free_port


@contextmanager
def serve(tmp_path: Path, **env: str) -> Iterator[str]:
    port = free_port()
    environ = {**os.environ, "IMPACTLENS_JOB_WORKERS": "0", **env}
    environ.pop("FORWARDED_ALLOW_IPS", None)
    cmd = [sys.executable, "-m", "impactlens.cli", "serve", "--no-demo", "--port", str(port)]
    cmd += ["--data-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):  # noqa: S310 - 127.0.0.1
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def failed_auth(base: str, forwarded_for: str) -> int:
    headers = {"Authorization": "Bearer il_0123456789abcdef_not-a-real-key", "X-Forwarded-For": forwarded_for}
    req = urllib.request.Request(base + "/v1/me", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - 127.0.0.1
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def burst(base: str, addresses: list[str]) -> list[int]:
    """Many attempts at once, so the bucket empties faster than it refills on a busy machine."""
    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(lambda a: failed_auth(base, a), addresses))


def test_rotating_x_forwarded_for_does_not_escape_the_failed_auth_throttle(tmp_path: Path) -> None:
    with serve(tmp_path) as base:
        codes = burst(base, [f"198.51.{n // 200}.{n % 200}" for n in range(200)])
    assert 401 in codes and 429 in codes, codes


def test_a_configured_proxy_forwards_the_client_address(tmp_path: Path) -> None:
    with serve(tmp_path, IMPACTLENS_TRUSTED_PROXIES='["127.0.0.1"]') as base:
        rotating = burst(base, [f"198.51.{n // 200}.{n % 200}" for n in range(200)])
        same = burst(base, ["203.0.113.7"] * 200)
    assert set(rotating) == {401}  # distinct clients behind the proxy, each with its own budget
    assert 429 in same
