"""How routes read an asset (the caller's own, or 404) and show it (the API's AssetOut)."""

from __future__ import annotations

from typing import Any

from ...accounts import Principal
from ...errors import scrub
from ...services import Services
from ..errors import not_found
from ..schemas import AssetOut, finite_aois

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such asset in the caller's organisation"}}


def own_asset(services: Services, principal: Principal, asset: str) -> dict[str, Any]:
    item = services.repo.get_asset(principal.org, asset)
    if item is None:
        raise not_found("asset", asset)  # another organisation's asset looks exactly like a missing one
    return item


_ASSET_FIELDS = tuple(k for k in AssetOut.model_fields if k != "job")


def _error_out(error: Any) -> Any:
    """Stored error messages can hold server paths or blob keys (from a failed job)."""
    if not isinstance(error, dict):
        return error
    return {k: scrub(v) if k == "message" and isinstance(v, str) else v for k, v in error.items()}


def asset_out(services: Services, item: dict[str, Any], with_job: bool = False) -> dict[str, Any]:
    out = {k: item[k] for k in _ASSET_FIELDS if k in item}
    out.setdefault("scores", {})
    if "aois" in out:
        out["aois"] = finite_aois(out["aois"])  # an item stored before validation cannot poison a page
    if out.get("error"):
        out["error"] = _error_out(out["error"])
    if with_job and item.get("job"):
        job = services.repo.get_job(str(item["job"])) or {}
        out["job"] = {k: job.get(k) for k in ("job", "status", "attempts", "progress", "error") if k in job}
        if out["job"].get("error"):
            out["job"]["error"] = _error_out(out["job"]["error"])
    return out
