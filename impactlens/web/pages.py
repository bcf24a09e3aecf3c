"""Every page router, in one list for mount_web."""

from __future__ import annotations

from fastapi import APIRouter

from . import admin, brands, compare, docs, export, library, session, upload


def routers() -> list[APIRouter]:
    return [
        session.router, docs.router, library.router, upload.router, brands.router, export.router, compare.router,
        admin.router,
    ]
