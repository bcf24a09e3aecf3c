"""What the brand and campaign views draw: distribution, best/worst, scores over time."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from ..db.table import Item
from .listing import memorability

BINS = 20


def scored(assets: list[Item]) -> list[Item]:
    return [a for a in assets if memorability(a) >= 0]


def distribution(assets: list[Item]) -> list[dict[str, Any]]:
    """Memorability histogram over [0, 1] in BINS bins, heights relative to the tallest."""
    counts = [0] * BINS
    for a in scored(assets):
        counts[min(BINS - 1, max(0, int(memorability(a) * BINS)))] += 1
    top = max(counts) or 1
    return [
        {"lo": i / BINS, "hi": (i + 1) / BINS, "count": c, "height": round(100 * c / top, 1)}
        for i, c in enumerate(counts)
    ]


def best_and_worst(assets: list[Item], n: int = 5) -> tuple[list[Item], list[Item]]:
    """The top and bottom ``n`` by memorability, never the same asset in both: with few assets
    the upper half is "best" and the rest "weakest" (one asset alone is neither best nor worst)."""
    ranked = sorted(scored(assets), key=memorability, reverse=True)
    k = min(n, len(ranked) // 2)
    return ranked[:k], list(reversed(ranked[k:]))[:k]


def over_time(assets: list[Item], width: int = 320, height: int = 160) -> dict[str, Any]:
    """Mean memorability per day of upload, as SVG polyline points and a table. The viewBox is
    about as wide as the card it is drawn in, so its 11-unit labels stay readable."""
    days: dict[str, list[float]] = defaultdict(list)
    for a in scored(assets):
        days[time.strftime("%Y-%m-%d", time.gmtime(float(a.get("created_at", 0))))].append(memorability(a))
    rows: list[dict[str, Any]] = [
        {"day": d, "mean": sum(v) / len(v), "count": len(v)} for d, v in sorted(days.items())
    ]
    if not rows:
        return {"rows": [], "points": "", "dots": []}
    # A fixed 0..1 axis: memorability is a probability, and one day alone still reads right.
    lo = min(float(r["mean"]) for r in rows)
    hi = max(float(r["mean"]) for r in rows)
    pad = 12
    step = (width - 2 * pad) / max(1, len(rows) - 1)
    dots = []
    for i, r in enumerate(rows):
        x = pad + (i * step if len(rows) > 1 else (width - 2 * pad) / 2)
        y = height - pad - float(r["mean"]) * (height - 2 * pad)
        dots.append({"x": round(x, 1), "y": round(y, 1), **r})
    return {
        "rows": rows,
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "lo": lo,
        "hi": hi,
        "width": width,
        "height": height,
    }
