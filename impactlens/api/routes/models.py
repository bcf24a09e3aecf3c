"""The model registry and the model cards (data, licence, metrics, limits), public.

Public on purpose: they describe the software, not anything of an organisation (like
/openapi.json), and a result's `card_url` has to open for whoever reads the result, including
tools holding no session. The licence terms (ResMem is non-commercial) must be readable before
anyone signs up.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel

from ...models.registry import SPECS, card_path
from ..errors import not_found

router = APIRouter(prefix="/v1/models", tags=["models"])

MARKDOWN = "text/markdown; charset=utf-8"


class ModelEntry(BaseModel):
    name: str
    task: str
    version: str
    variants: list[str]
    licence: str
    source: str
    card_url: str


def registry_entries() -> list[ModelEntry]:
    entries: dict[str, ModelEntry] = {}
    for spec in SPECS.values():
        if spec.name in entries:
            entries[spec.name].variants.append(spec.variant)
            continue
        entries[spec.name] = ModelEntry(
            name=spec.name,
            task=spec.task,
            version=spec.version,
            variants=[spec.variant],
            licence=spec.licence,
            source=spec.source,
            card_url=spec.card_url,
        )
    return list(entries.values())


@router.get("", response_model=list[ModelEntry])
async def list_models() -> Any:
    return registry_entries()


@router.get(
    "/{name}/card",
    response_class=Response,
    responses={200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}, 404: {}},
)
async def model_card(name: str) -> Response:
    spec = next((s for s in SPECS.values() if s.name == name), None)
    if spec is None:
        raise not_found("model", name)
    return Response(card_path(spec).read_text(encoding="utf-8"), media_type=MARKDOWN)
