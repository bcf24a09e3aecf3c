"""Smoke test of a deployed stack (the deploy workflow runs it after each `sam deploy`).

Health, then one real analysis through the public API: create an asset, PUT a sample image to
its presigned URL, mark it uploaded, poll until it is done. Standard library only.

Environment: SMOKE_API_URL (the stack's ApiUrl output), SMOKE_API_KEY (a key of a smoke-test
organisation that owns SMOKE_BRAND / SMOKE_CAMPAIGN). Exit status 0 = healthy.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

SAMPLE = Path(__file__).resolve().parents[1] / "impactlens" / "data" / "samples" / "nus-412.jpg"


def call(base: str, key: str, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - the stack's https URL
        out: dict[str, Any] = json.loads(r.read() or b"{}")
        return out


def main(timeout_s: float = 600.0) -> int:
    base, key = os.environ["SMOKE_API_URL"].rstrip("/"), os.environ["SMOKE_API_KEY"]
    brand, campaign = os.environ.get("SMOKE_BRAND", "smoke"), os.environ.get("SMOKE_CAMPAIGN", "smoke")
    with urllib.request.urlopen(base + "/healthz", timeout=30) as r:  # noqa: S310
        assert r.status == 200, r.status
    created = call(base, key, "POST", "/v1/assets", {"brand": brand, "campaign": campaign, "name": "smoke"})
    upload = created["upload"]
    url, headers = upload["url"], upload["headers"]
    req = urllib.request.Request(url, data=SAMPLE.read_bytes(), method="PUT", headers=headers)  # noqa: S310
    with urllib.request.urlopen(req, timeout=60) as r:  # noqa: S310 - the presigned S3 URL
        assert r.status == 200, r.status
    call(base, key, "POST", f"/v1/assets/{created['asset']}/uploaded")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        asset = call(base, key, "GET", f"/v1/assets/{created['asset']}")
        if asset["status"] in ("done", "failed"):
            print(json.dumps({"asset": created["asset"], "status": asset["status"], "scores": asset.get("scores")}))
            return 0 if asset["status"] == "done" else 1
        time.sleep(5)
    print(f"asset {created['asset']} not done after {timeout_s:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
