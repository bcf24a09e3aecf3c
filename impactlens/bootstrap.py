"""First run of `impactlens serve`: a demo organisation, its admin, an API key, and the
bundled samples queued for analysis, so a newcomer sees results at once."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .accounts import Principal
from .db.table import NOT_EXISTS, ConditionFailedError
from .services import Services

DEMO_ORG = "demo"
DEMO_EMAIL = "admin@demo.local"
MARKER = ("SETUP#demo", "SETUP")


@dataclass
class DemoCredentials:
    org: str
    email: str
    password: str
    api_key: str


def sample_files() -> list[Path]:
    folder = resources.files("impactlens") / "data" / "samples"
    return sorted(Path(str(p)) for p in folder.iterdir() if str(p).endswith((".jpg", ".mp4")))


def first_run(services: Services) -> DemoCredentials | None:
    """Creates the demo once (a marker item guards it); None when it already exists."""
    try:
        services.table.put({"PK": MARKER[0], "SK": MARKER[1], "state": "creating"}, NOT_EXISTS)
    except ConditionFailedError:
        return None
    from .api.uploads import accept

    accounts, repo = services.accounts, services.repo
    accounts.create_org(DEMO_ORG, "Demo organisation", "pro")
    password = secrets.token_urlsafe(12)
    accounts.create_user(DEMO_ORG, DEMO_EMAIL, "Demo admin", "Admin", password)
    _, key = accounts.create_api_key(DEMO_ORG, "created on first run", "Admin")
    repo.create_brand(DEMO_ORG, "samples", "Bundled samples")
    repo.create_campaign(DEMO_ORG, "samples", "first-run", "First run")
    principal = Principal(org=DEMO_ORG, role="Admin", kind="key", plan="pro")
    for path in sample_files():
        asset = repo.create_asset(
            DEMO_ORG, "samples", "first-run", "unknown", name=path.name, status="awaiting_upload", aois=[]
        )
        with tempfile.NamedTemporaryFile(suffix=path.suffix) as tmp:
            shutil.copyfile(path, tmp.name)
            accept(services, principal, asset, tmp.name, path.stat().st_size)
    services.table.put({"PK": MARKER[0], "SK": MARKER[1], "state": "done"})
    return DemoCredentials(DEMO_ORG, DEMO_EMAIL, password, key)
