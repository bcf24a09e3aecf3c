"""A real app on the embedded backends in a temp folder, with organisations and callers."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from impactlens.api import create_app
from impactlens.jobs.worker import JobWorker
from impactlens.services import Services, embedded_services
from impactlens.settings import Settings, get_settings

PASSWORD = "correct horse battery"


def api_settings(tmp_path: Path, **kw: Any) -> Settings:
    base = {"data_dir": tmp_path / "data", "variant": "int8", "workers": 0, "job_retry_base_s": 0.0}
    return get_settings().model_copy(update={**base, **kw})


@dataclass
class Org:
    org: str
    admin_key: str
    member_key: str
    admin_email: str
    headers: dict[str, str] = field(default_factory=dict)
    member: dict[str, str] = field(default_factory=dict)


@dataclass
class World:
    services: Services
    client: TestClient
    worker: JobWorker
    orgs: dict[str, Org] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def add_org(self, org: str, plan: str = "enterprise") -> Org:
        acc = self.services.accounts
        acc.create_org(org, org.upper(), plan)
        email = f"admin@{org}.test"
        acc.create_user(org, email, "Admin", "Admin", PASSWORD)
        _, admin = acc.create_api_key(org, "admin", "Admin")
        _, member = acc.create_api_key(org, "member", "Member")
        o = Org(org, admin, member, email, {"Authorization": f"Bearer {admin}"}, {"Authorization": f"Bearer {member}"})
        self.orgs[org] = o
        return o

    def campaign(self, o: Org, brand: str = "b1", campaign: str = "c1") -> None:
        if self.services.repo.get_brand(o.org, brand) is None:
            assert (
                self.client.post("/v1/brands", json={"brand": brand, "name": brand}, headers=o.headers).status_code
                == 201
            )
        r = self.client.post(
            f"/v1/brands/{brand}/campaigns", json={"campaign": campaign, "name": campaign}, headers=o.headers
        )
        assert r.status_code == 201, r.text

    def asset(self, o: Org, name: str = "ad", brand: str = "b1", campaign: str = "c1", **kw: Any) -> dict[str, Any]:
        r = self.client.post(
            "/v1/assets", json={"brand": brand, "campaign": campaign, "name": name, **kw}, headers=o.headers
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    def upload(self, o: Org, asset: str, data: bytes, filename: str = "f.jpg") -> Any:
        files = {"file": (filename, io.BytesIO(data), "application/octet-stream")}
        return self.client.post(f"/v1/assets/{asset}/upload", files=files, headers=o.headers)

    def aois_and_shares(self, o: Org, asset: str) -> tuple[list[str], list[str]]:
        """A finished asset's stored AOI names, and the names its result measured shares for."""
        got = self.client.get(f"/v1/assets/{asset}", headers=o.headers).json()
        res = self.client.get(f"/v1/assets/{asset}/results", headers=o.headers)
        assert got["status"] == "done" and res.status_code == 200, res.text
        return [a["name"] for a in got["aois"]], [a["name"] for a in res.json()["analysis"]["attention"]]

    def run_jobs(self) -> int:
        n = 0
        while self.worker.run_once():
            n += 1
        self.worker.maintain()
        return n


def make_world(tmp_path: Path, **settings: Any) -> World:
    services = embedded_services(api_settings(tmp_path, **settings))
    return World(services, TestClient(create_app(services)), JobWorker(services, "test-worker"))


def make_world_with_blobs(tmp_path: Path, blobs_class: type[Any], **settings: Any) -> tuple[World, Any]:
    """A world on SQLite whose blob store is ``blobs_class``: a LocalBlobStore subclass that
    watches or interferes with reads (the real store underneath)."""
    from impactlens.db.sqlite import SqliteTable

    conf = api_settings(tmp_path, **settings)
    conf.data_dir.mkdir(parents=True, exist_ok=True)
    blobs = blobs_class(conf.data_dir / "blobs", b"k" * 32)
    services = Services(conf, SqliteTable(conf.data_dir / "t.db"), blobs)
    return World(services, TestClient(create_app(services)), JobWorker(services, "w1")), blobs
