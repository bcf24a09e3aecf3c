"""Assets with their analysis results and video segments (all under the asset's partition)."""

from __future__ import annotations

import json
from typing import Any

from .errors import ConflictError, NotFoundError
from .ids import new_ulid
from .repo_base import RepositoryBase, public
from .table import EXISTS, NOT_EXISTS, Check, Condition, ConditionFailedError, Item, KeyRange, Page, Put, Update


def best_aoi(analysis: Any) -> dict[str, Any] | None:
    """The AOI with the largest attention share (whole video for videos) in a stored analysis."""
    try:
        data = json.loads(analysis) if isinstance(analysis, str) else (analysis or {})
        shares = [(a["share"] if "share" in a else a["whole"], str(a["name"])) for a in data.get("attention", [])]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    if not shares:
        return None
    share, name = max(shares)
    return {"name": name, "share": float(share)}


class AssetsRepository(RepositoryBase):
    @staticmethod
    def _gsi1sk(brand: str, campaign: str, asset: str) -> str:
        return f"BRAND#{brand}#CAMPAIGN#{campaign}#ASSET#{asset}"

    def create_asset(
        self, org: str, brand: str, campaign: str, kind: str, fence: Check | None = None, **attrs: Any
    ) -> Item:
        """A new asset (a new ULID). ``fence``: a check that must hold in the same transaction
        (the caller still holds its Idempotency-Key); ConflictError when it does not. The same
        transaction records the new asset's id on the fence's item as ``created_asset``, so a
        retry can answer with it should this request stop before recording its response."""
        asset = new_ulid()
        item = {
            "PK": f"ASSET#{asset}",
            "SK": "METADATA",
            "GSI1PK": f"ORG#{org}",
            "GSI1SK": self._gsi1sk(brand, campaign, asset),
            "asset": asset,
            "org": org,
            "brand": brand,
            "campaign": campaign,
            "kind": kind,
            "status": "created",
            "created_at": self.clock(),
            **attrs,
        }
        ops: list[Check | Put | Update] = [
            Check(f"ORG#{org}", f"CAMPAIGN#{brand}#{campaign}", EXISTS),
            Put(item, NOT_EXISTS),
        ]
        if fence is not None:
            ops.append(Update(fence.pk, fence.sk, set={"created_asset": asset}, condition=fence.condition))
        try:
            self.table.transact(ops)
        except ConditionFailedError as exc:
            if fence is not None and not fence.condition.holds(self.table.get(fence.pk, fence.sk)):
                raise ConflictError("the request's hold on its Idempotency-Key ended") from exc
            raise NotFoundError(f"no campaign {brand}/{campaign}") from exc
        return public(item) or {}

    def get_asset(self, org: str, asset: str) -> Item | None:
        """None for a missing asset and for another organisation's asset alike."""
        item = self.table.get(f"ASSET#{asset}", "METADATA")
        return public(item) if item is not None and item.get("org") == org else None

    def asset_with_details(self, org: str, asset: str) -> Item | None:
        items = self.table.query(f"ASSET#{asset}", limit=1000).items
        meta = next((i for i in items if i["SK"] == "METADATA"), None)
        if meta is None or meta.get("org") != org:
            return None
        out = public(meta) or {}
        out["results"] = {i["SK"][len("RESULT#") :]: public(i) for i in items if i["SK"].startswith("RESULT#")}
        out["segments"] = [public(i) for i in items if i["SK"].startswith("SEGMENT#")]
        return out

    def list_assets(
        self,
        org: str,
        brand: str | None = None,
        campaign: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        prefix = "BRAND#" if brand is None else f"BRAND#{brand}#" + (f"CAMPAIGN#{campaign}#" if campaign else "")
        page = self.table.query(
            f"ORG#{org}", KeyRange(begins_with=prefix), index="GSI1", limit=limit, cursor=cursor, newest_first=True
        )
        return Page([public(i) or {} for i in page.items], page.cursor)

    def set_scores(self, org: str, asset: str, scores: dict[str, float], status: str = "done") -> Item:
        try:
            new = self.table.update(
                f"ASSET#{asset}",
                "METADATA",
                set={"scores": scores, "status": status},
                condition=Condition(exists=True, equals={"org": org}),
            )
        except ConditionFailedError as exc:
            raise NotFoundError(f"no asset {asset}") from exc
        return public(new) or {}

    def update_asset(self, org: str, asset: str, set: dict[str, Any], remove: list[str] | None = None) -> Item:
        """Set attributes of an asset of ``org`` (NotFoundError for a missing or foreign one)."""
        try:
            new = self.table.update(
                f"ASSET#{asset}",
                "METADATA",
                set=set,
                remove=remove or [],
                condition=Condition(exists=True, equals={"org": org}),
            )
        except ConditionFailedError as exc:
            raise NotFoundError(f"no asset {asset}") from exc
        return public(new) or {}

    def update_asset_while_absent(
        self, org: str, asset: str, set: dict[str, Any], absent: tuple[str, ...]
    ) -> Item | None:
        """Like update_asset, but only while none of ``absent`` is on the asset: None (nothing
        written) once one is. NotFoundError for a missing or foreign asset."""
        try:
            new = self.table.update(
                f"ASSET#{asset}",
                "METADATA",
                set=set,
                condition=Condition(exists=True, equals={"org": org}, absent=absent),
            )
        except ConditionFailedError as exc:
            if self.get_asset(org, asset) is None:
                raise NotFoundError(f"no asset {asset}") from exc
            return None
        return public(new) or {}

    def get_result(self, org: str, asset: str, model_version: str) -> Item | None:
        if self.get_asset(org, asset) is None:
            return None
        return public(self.table.get(f"ASSET#{asset}", f"RESULT#{model_version}"))

    def put_result(
        self,
        org: str,
        asset: str,
        model_version: str,
        result: dict[str, Any],
        asset_set: dict[str, Any] | None = None,
        *,
        expect_aois: list[Any] | None = None,
    ) -> None:
        """The result, and on the asset its best AOI share and `asset_set` (the AOIs the shares
        are for), in one transaction: two writers each leave both or neither, never one's
        result beside the other's AOIs. With ``expect_aois``, only while the asset's AOIs are
        still exactly those (a compare-and-set): ConflictError, nothing written, once not."""
        # The dashboard's library shows each card's best AOI share: kept on the asset item so
        # a page of cards is one key-range query, not one result read per card.
        best = best_aoi(result.get("analysis"))
        changes = {**({"best_aoi": best} if best else {}), **(asset_set or {})}
        expected = {"aois": expect_aois} if expect_aois is not None else {}
        owned = Condition(exists=True, equals={"org": org, **expected})
        try:
            self.table.transact(
                [
                    Put({"PK": f"ASSET#{asset}", "SK": f"RESULT#{model_version}", **result}),
                    Update(
                        f"ASSET#{asset}", "METADATA", set=changes, remove=[] if best else ["best_aoi"], condition=owned
                    ),
                ]
            )
        except ConditionFailedError as exc:
            if expect_aois is not None and self.get_asset(org, asset) is not None:
                raise ConflictError(f"the AOIs of asset {asset} changed meanwhile") from exc
            raise NotFoundError(f"no asset {asset}") from exc

    def put_segment(self, org: str, asset: str, start_ms: int, values: dict[str, Any]) -> None:
        if self.get_asset(org, asset) is None:
            raise NotFoundError(f"no asset {asset}")
        self.table.put({"PK": f"ASSET#{asset}", "SK": f"SEGMENT#{start_ms:010d}", "start_ms": start_ms, **values})

    def move_asset(self, org: str, asset: str, brand: str, campaign: str, to_org: str | None = None) -> Item:
        target = to_org or org
        current = self.get_asset(org, asset)
        if current is None:
            raise NotFoundError(f"no asset {asset}")
        try:
            self.table.transact(
                [
                    Check(f"ORG#{target}", f"CAMPAIGN#{brand}#{campaign}", EXISTS),
                    Update(
                        f"ASSET#{asset}",
                        "METADATA",
                        set={
                            "org": target,
                            "brand": brand,
                            "campaign": campaign,
                            "GSI1PK": f"ORG#{target}",
                            "GSI1SK": self._gsi1sk(brand, campaign, asset),
                        },
                        condition=Condition(exists=True, equals={"org": org}),
                    ),
                ]
            )
        except ConditionFailedError as exc:
            raise NotFoundError(f"no campaign {brand}/{campaign} or asset {asset}") from exc
        return self.get_asset(target, asset) or {}

    def delete_asset(self, org: str, asset: str) -> Item:
        """Delete the asset and everything under it; returns the metadata (for blob cleanup)."""
        current = self.get_asset(org, asset)
        if current is None:
            raise NotFoundError(f"no asset {asset}")
        children = [i for i in self.table.query(f"ASSET#{asset}", limit=1000).items if i["SK"] != "METADATA"]
        for child in children:
            self.table.delete(child["PK"], child["SK"])
        # The metadata goes last, so a crash midway leaves a findable asset to delete again.
        self.table.delete(f"ASSET#{asset}", "METADATA", Condition(equals={"org": org}))
        # A running analysis writes a result or segment, then checks the metadata: one written
        # after the first sweep was seen by that check while the metadata still existed, so it
        # is here now.
        for child in self.table.query(f"ASSET#{asset}", limit=1000).items:
            self.table.delete(child["PK"], child["SK"])
        return current
