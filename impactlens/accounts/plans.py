"""Subscription plans: quotas and request rates per organisation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    requests_per_s: float  # token-bucket refill rate
    burst: int  # token-bucket size
    analyses_per_month: int | None  # None = unlimited
    max_upload_bytes: int
    max_video_seconds: float


PLANS: dict[str, Plan] = {
    "free": Plan("free", 10, 20, 100, 50 * 2**20, 60),
    "pro": Plan("pro", 100, 200, 10_000, 500 * 2**20, 300),
    "enterprise": Plan("enterprise", 2000, 4000, None, 2 * 2**30, 600),
}


def get_plan(name: str) -> Plan:
    return PLANS.get(name, PLANS["free"])
