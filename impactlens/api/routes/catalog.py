"""Brands and campaigns of the caller's organisation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from ..deps import AdminCaller, Caller, ServicesDep
from ..errors import ApiError, not_found
from ..idempotency import Idempotent
from ..schemas import BrandIn, CampaignIn, Named

router = APIRouter(prefix="/v1/brands", tags=["brands and campaigns"])


@router.get("", response_model=list[Named], responses={401: {}})
async def list_brands(principal: Caller, services: ServicesDep) -> Any:
    return services.repo.list_brands(principal.org, limit=1000).items


@router.post("", response_model=Named, status_code=201, responses={401: {}, 403: {}, 409: {}})
def create_brand(
    body: BrandIn, principal: AdminCaller, services: ServicesDep, idem: Annotated[Idempotent, Depends()]
) -> Any:
    return idem.run(principal, body, lambda: services.repo.create_brand(principal.org, body.brand, body.name), 201)


@router.get("/{brand}/campaigns", response_model=list[Named], responses={401: {}, 404: {}})
async def list_campaigns(brand: str, principal: Caller, services: ServicesDep) -> Any:
    if services.repo.get_brand(principal.org, brand) is None:
        raise not_found("brand", brand)
    return services.repo.list_campaigns(principal.org, brand, limit=1000).items


@router.post(
    "/{brand}/campaigns", response_model=Named, status_code=201, responses={401: {}, 403: {}, 404: {}, 409: {}}
)
def create_campaign(
    brand: str,
    body: CampaignIn,
    principal: AdminCaller,
    services: ServicesDep,
    idem: Annotated[Idempotent, Depends()],
) -> Any:
    if services.repo.get_brand(principal.org, brand) is None:
        raise not_found("brand", brand)

    def make() -> dict[str, Any]:
        if services.repo.get_campaign(principal.org, brand, body.campaign) is not None:
            raise ApiError(409, "conflict", f"campaign {body.campaign} exists")
        return services.repo.create_campaign(principal.org, brand, body.campaign, body.name)

    return idem.run(principal, body, make, 201)
