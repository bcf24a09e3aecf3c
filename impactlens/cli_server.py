"""`impactlens serve` and the operators' `impactlens admin ...` commands."""

from __future__ import annotations

import argparse
import gc
import getpass
import json
import os
from pathlib import Path
from typing import Any

from .settings import ENV_NEW_PASSWORD, ENV_PUBLIC_URL


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from .settings import load_settings

    return load_settings(
        Path(args.settings) if getattr(args, "settings", None) else None,
        data_dir=getattr(args, "data_dir", None),
        **extra,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .api import create_app
    from .bootstrap import first_run
    from .jobs.worker import JobWorker
    from .services import build_services

    public = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"  # noqa: S104
    settings = _settings(args, public_url=os.environ.get(ENV_PUBLIC_URL) or public)
    services = build_services(settings)
    worker = JobWorker(services)
    creds = None if args.no_demo else first_run(services)
    if creds:
        print(
            "\nFirst run: created a demo organisation. These secrets are shown ONCE:\n"
            f"  organisation: {creds.org}\n  admin login:  {creds.email} / {creds.password}\n"
            f"  API key:      {creds.api_key}\n"
            f"Try: curl -H 'Authorization: Bearer {creds.api_key}' {settings.public_url}/v1/assets\n"
            "The bundled samples are being analysed now.\n",
            flush=True,
        )
    app = create_app(services, on_startup=lambda: worker.start(settings.job_workers), on_shutdown=worker.stop)
    where = Path(settings.data_dir).resolve()
    print(f"impactlens dashboard on {settings.public_url}/ (API under /v1, docs at /docs), data in {where}")
    # Everything loaded so far lives for the whole process: keep it out of the collector's
    # scans, and collect the young generation less often (request garbage is short-lived).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    # X-Forwarded-For is believed only from the configured proxies (default none): otherwise
    # any client could pick the address its login and key throttling is counted against.
    proxies = settings.trusted_proxies
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        access_log=False,
        proxy_headers=bool(proxies),
        forwarded_allow_ips=",".join(proxies) if proxies else "",
    )
    services.close()
    return 0


def _services(args: argparse.Namespace) -> Any:
    from .services import build_services

    return build_services(_settings(args))


def cmd_admin(args: argparse.Namespace) -> int:
    s = _services(args)
    a = args.admin_command
    if a == "create-org":
        out: Any = s.accounts.create_org(args.org, args.name or args.org, args.plan)
    elif a == "list-orgs":
        out = s.accounts.list_orgs()
    elif a == "create-user":
        password = os.environ.get(ENV_NEW_PASSWORD) or getpass.getpass("password for the new user: ")
        out = s.accounts.create_user(args.org, args.email, args.name or args.email, args.role, password)
    elif a == "list-users":
        out = [{k: v for k, v in u.items() if k != "password_hash"} for u in s.repo.list_users(args.org).items]
    elif a == "create-key":
        item, key = s.accounts.create_api_key(args.org, args.label, args.role)
        out = {**item, "key": key, "note": "the key is shown once; store it now"}
    elif a == "list-keys":
        out = s.repo.list_api_keys(args.org).items
    elif a == "revoke-key":
        s.repo.revoke_api_key(args.org, args.key_id)
        out = {"revoked": args.key_id}
    else:  # pragma: no cover - argparse restricts the choices
        raise SystemExit(f"unknown admin command {a}")
    print(json.dumps(out, indent=2, default=str))
    s.close()
    return 0


def add_parsers(sub: Any) -> None:
    srv = sub.add_parser("serve", help="run the HTTP API and the job worker on the embedded defaults")
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--data-dir", default=None, help="SQLite file, blobs and secrets (default ./impactlens-data)")
    srv.add_argument("--settings", default=None, help="a TOML settings file (flags > environment > file)")
    srv.add_argument("--no-demo", action="store_true", help="do not create the demo organisation on first run")
    srv.set_defaults(func=cmd_serve)

    adm = sub.add_parser("admin", help="manage organisations, users and API keys (operators)")
    adm.add_argument("--data-dir", default=None)
    adm.add_argument("--settings", default=None)
    asub = adm.add_subparsers(dest="admin_command", required=True)
    c = asub.add_parser("create-org")
    c.add_argument("org")
    c.add_argument("--name", default=None)
    c.add_argument("--plan", default="free", choices=["free", "pro", "enterprise"])
    asub.add_parser("list-orgs")
    u = asub.add_parser("create-user", help="password from IMPACTLENS_NEW_PASSWORD or a prompt")
    u.add_argument("org")
    u.add_argument("email")
    u.add_argument("--name", default=None)
    u.add_argument("--role", default="Member", choices=["Admin", "Member"])
    lu = asub.add_parser("list-users")
    lu.add_argument("org")
    k = asub.add_parser("create-key")
    k.add_argument("org")
    k.add_argument("--label", default="")
    k.add_argument("--role", default="Member", choices=["Admin", "Member"])
    lk = asub.add_parser("list-keys")
    lk.add_argument("org")
    rk = asub.add_parser("revoke-key")
    rk.add_argument("org")
    rk.add_argument("key_id")
    for p in (adm,):
        p.set_defaults(func=cmd_admin)
