"""`impactlens serve` (the main job) and the operators' admin commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from impactlens.cli import main
from impactlens.services import embedded_services
from impactlens.settings import load_settings
from tests.aws import free_port

ROOT = Path(__file__).resolve().parents[1]


def _admin(data: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> object:
    assert main(["admin", "--data-dir", str(data), *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_admin_cli_creates_and_lists_orgs_users_and_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "d"
    _admin(data, "create-org", "acme", "--plan", "pro", capsys=capsys)
    monkeypatch.setenv("IMPACTLENS_NEW_PASSWORD", "a long password")
    user = _admin(data, "create-user", "acme", "ann@acme.test", "--role", "Admin", capsys=capsys)
    assert "password_hash" not in user
    created = _admin(data, "create-key", "acme", "--label", "ci", capsys=capsys)
    assert created["key"].startswith("il_")  # type: ignore[index]
    assert [o["org"] for o in _admin(data, "list-orgs", capsys=capsys)] == ["acme"]  # type: ignore[attr-defined]
    keys = _admin(data, "list-keys", "acme", capsys=capsys)
    assert [k["label"] for k in keys] == ["ci"] and "hash" not in keys[0]  # type: ignore[index]
    services = embedded_services(load_settings(data_dir=data))
    assert services.accounts.authenticate_key(created["key"]).org == "acme"  # type: ignore[index]
    assert main(["admin", "--data-dir", str(data), "create-org", "acme"]) == 2  # exists
    assert main(["admin", "--data-dir", str(data), "create-user", "nope", "x@y.z"]) == 2  # no such org


def test_create_user_without_a_terminal_or_password_variable_is_a_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert main(["admin", "--data-dir", str(data), "create-org", "acme"]) == 0
    env = {k: v for k, v in os.environ.items() if k != "IMPACTLENS_NEW_PASSWORD"}
    # A session of its own: no controlling terminal, so the password prompt reads stdin (empty).
    cmd = ["admin", "--data-dir", str(data), "create-user", "acme", "a@acme.test"]
    done = subprocess.run(
        [sys.executable, "-m", "impactlens.cli", *cmd],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, start_new_session=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "IMPACTLENS_NEW_PASSWORD" in done.stderr and "Traceback" not in done.stderr
    assert embedded_services(load_settings(data_dir=data)).repo.user_by_email("a@acme.test") is None


def _get(url: str, key: str) -> object:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(req, timeout=5) as r:  # noqa: S310
        return json.loads(r.read())


def test_serve_first_run_creates_the_demo_and_analyses_the_samples(tmp_path: Path) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "impactlens.cli", "serve", "--port", str(port), "--data-dir", str(tmp_path / "d")]
    env = {**os.environ, "IMPACTLENS_WORKERS": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    key = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "API key:" in line:
                key = line.split()[-1]
            if "Uvicorn running" in line:
                break
        assert key.startswith("il_")
        deadline = time.time() + 180
        while time.time() < deadline:
            items = _get(f"http://127.0.0.1:{port}/v1/assets", key)["items"]  # type: ignore[index]
            if items and all(i["status"] in ("done", "failed") for i in items):
                break
            time.sleep(0.5)
        assert {i["kind"] for i in items} == {"image", "video"}
        assert all(i["status"] == "done" and 0 <= i["scores"]["memorability"] <= 1 for i in items)
        agg = _get(f"http://127.0.0.1:{port}/v1/aggregates", key)
        assert agg["assets"] == len(items)  # type: ignore[index]
    finally:
        proc.terminate()
        proc.wait(30)
    # A second start finds the demo: no new secrets, nothing created twice.
    services = embedded_services(load_settings(data_dir=tmp_path / "d"))
    assert services.accounts.list_orgs() == [{"org": "demo", "name": "Demo organisation", "plan": "pro"}]
    from impactlens.bootstrap import first_run

    assert first_run(services) is None
