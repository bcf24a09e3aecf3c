"""Every page router, in one list for mount_web."""

from __future__ import annotations

from fastapi import APIRouter

from . import docs, session


def routers() -> list[APIRouter]:
    return [session.router, docs.router]
