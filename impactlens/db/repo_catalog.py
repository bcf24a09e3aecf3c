"""Brands and their campaigns, the folders a client's assets live in."""

from __future__ import annotations

from .errors import ConflictError
from .ids import check_id
from .repo_base import RepositoryBase, public
from .table import EXISTS, NOT_EXISTS, Check, ConditionFailedError, Item, KeyRange, Page, Put


class CatalogRepository(RepositoryBase):
    def create_brand(self, org: str, brand: str, name: str) -> Item:
        item = {"PK": f"ORG#{org}", "SK": f"BRAND#{check_id(brand, 'brand')}", "brand": brand, "name": name}
        try:
            self.table.put(item, NOT_EXISTS)
        except ConditionFailedError as exc:
            raise ConflictError(f"brand {brand} exists") from exc
        return public(item) or {}

    def list_brands(self, org: str, limit: int = 100, cursor: str | None = None) -> Page:
        page = self.table.query(f"ORG#{org}", KeyRange(begins_with="BRAND#"), limit=limit, cursor=cursor)
        return Page([public(i) or {} for i in page.items], page.cursor)

    def create_campaign(self, org: str, brand: str, campaign: str, name: str) -> Item:
        sk = f"CAMPAIGN#{brand}#{check_id(campaign, 'campaign')}"
        item = {"PK": f"ORG#{org}", "SK": sk, "brand": brand, "campaign": campaign, "name": name}
        try:
            self.table.transact(
                [
                    Check(f"ORG#{org}", f"BRAND#{brand}", EXISTS),
                    Put(item, NOT_EXISTS),
                ]
            )
        except ConditionFailedError as exc:
            raise ConflictError(f"campaign {campaign} exists or brand {brand} does not") from exc
        return public(item) or {}

    def get_campaign(self, org: str, brand: str, campaign: str) -> Item | None:
        return public(self.table.get(f"ORG#{org}", f"CAMPAIGN#{brand}#{campaign}"))

    def get_brand(self, org: str, brand: str) -> Item | None:
        return public(self.table.get(f"ORG#{org}", f"BRAND#{brand}"))

    def list_campaigns(self, org: str, brand: str, limit: int = 100, cursor: str | None = None) -> Page:
        page = self.table.query(f"ORG#{org}", KeyRange(begins_with=f"CAMPAIGN#{brand}#"), limit=limit, cursor=cursor)
        return Page([public(i) or {} for i in page.items], page.cursor)
