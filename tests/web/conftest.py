"""Browser tests: the real app on embedded services, served by uvicorn on 127.0.0.1, driven by
Debian's Chromium through Playwright (Playwright's own browser download cannot work here)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from impactlens.api import create_app
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services, embedded_services
from impactlens.settings import get_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = ROOT / "impactlens" / "web" / "static" / "vendor" / "axe-core" / "axe.min.js"
SAMPLES = ROOT / "impactlens" / "data" / "samples"
PASSWORD = "correct horse battery"
ORG = "acme"
ADMIN_EMAIL, MEMBER_EMAIL = "admin@acme.test", "member@acme.test"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.web)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "web: a browser test (Playwright driving /usr/bin/chromium)")


@dataclass
class LiveServer:
    url: str
    services: Services
    worker: JobWorker
    org: str = ORG
    admin_email: str = ADMIN_EMAIL
    member_email: str = MEMBER_EMAIL
    password: str = PASSWORD

    def wait_assets_done(self, ids: list[str], timeout_s: float = 120.0) -> dict[str, dict[str, Any]]:
        """Each asset once its job ended (done or failed), bounded in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            items = {a: self.services.repo.get_asset(self.org, a) or {} for a in ids}
            if all(i.get("status") in ("done", "failed") for i in items.values()):
                return items
            if time.monotonic() > deadline:
                raise AssertionError(f"assets not finished after {timeout_s} s: {items}")
            time.sleep(0.3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(tmp: Path, job_threads: int = 1) -> Iterator[LiveServer]:
    """The app from create_app with a job worker, on a free loopback port; stopped on exit."""
    import uvicorn

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    settings = get_settings().model_copy(
        update={"data_dir": tmp / "data", "variant": "int8", "workers": 0, "job_retry_base_s": 0.0, "public_url": url}
    )
    services = embedded_services(settings)
    acc = services.accounts
    acc.create_org(ORG, "Acme Ltd", "enterprise")
    acc.create_user(ORG, ADMIN_EMAIL, "Ada Admin", "Admin", PASSWORD)
    acc.create_user(ORG, MEMBER_EMAIL, "Max Member", "Member", PASSWORD)
    worker = JobWorker(services, "web-worker")
    app = create_app(services, on_startup=lambda: worker.start(job_threads) if job_threads else None,
                     on_shutdown=worker.stop)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(url, services, worker)
    finally:
        server.should_exit = True
        thread.join(30)
        services.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from start_server(tmp_path_factory.mktemp("web"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install -y chromium; .ci/run installs it)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def signed_in_page(browser: Any, server: LiveServer, email: str) -> Iterator[Any]:
    """A fresh browser context holding a session cookie from POST /v1/auth/login. Whatever the
    test does in it (drawing, uploading, playing, htmx swaps), nothing may be refused by the
    Content-Security-Policy: Chromium reports each refusal as a console error."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    refused: list[str] = []
    context.on("console", lambda m: refused.append(f"{m.text} ({m.location.get('url')})")
               if m.type == "error" and "Content Security Policy" in m.text else None)
    r = context.request.post("/v1/auth/login", data={"email": email, "password": server.password})
    assert r.status == 200, r.text()
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()
    assert refused == [], refused


@pytest.fixture
def admin_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from signed_in_page(browser, live_server, live_server.admin_email)


@pytest.fixture
def member_page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    yield from signed_in_page(browser, live_server, live_server.member_email)


def wait_for(page: Any, expression: str, timeout: float = 15_000, polling: float = 50) -> None:
    """Waits until a JavaScript expression (or "() => ..." function) is truthy in the page.

    Use this, not page.wait_for_function: Playwright runs that predicate through eval in the
    page, which the pages' Content-Security-Policy (script-src 'self', no 'unsafe-eval')
    refuses. page.evaluate is not subject to the policy, so this polls with it."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            if page.evaluate(expression):
                return
        except Exception as exc:  # noqa: BLE001 - a navigation in between destroys the context
            if "context was destroyed" not in str(exc) and "navigat" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout:.0f} ms: {expression}")
        page.wait_for_timeout(polling)


def shot(page: Any, name: str) -> Path:
    """A full-page screenshot under test-artifacts/screenshots/ (look at them)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core (vendored) on the current page: the serious and critical violations."""
    # Served by the app itself: the pages' CSP refuses an inline copy (add_script_tag(path=...)).
    assert AXE.is_file()
    page.add_script_tag(url="/static/vendor/axe-core/axe.min.js")
    found: list[dict[str, Any]] = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => ({id: v.id, impact: v.impact, help: v.help,
                            nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
        }"""
    )
    return found
