"""Model cards: every registered model has one, results link to it, the API serves it, and
the README's models table is the one generated from the registry."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from impactlens.models.registry import SPECS, card_path
from tests.api_support import World, make_world
from tests.media_cases import jpeg

ROOT = Path(__file__).resolve().parents[1]
# Licence names as the registry writes them; a card must carry each one its model's licence names.
LICENCE_TERMS = ("non-commercial", "MIT", "Apache-2.0", "BSD-3-Clause")


def _table_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_model_table", ROOT / "scripts" / "make_model_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(Path(tmp_path_factory.mktemp("cards")))


@pytest.mark.parametrize("key", sorted(SPECS))
def test_every_registered_model_has_a_card_naming_its_licence(key: str) -> None:
    spec = SPECS[key]
    path = card_path(spec)
    assert spec.card and path.is_file(), f"{key}: no card at {path}"
    text = path.read_text(encoding="utf-8")
    terms = [t for t in LICENCE_TERMS if t.lower() in spec.licence.lower()]
    assert terms, f"{key}: licence {spec.licence!r} names none of {LICENCE_TERMS}"
    for term in terms:
        assert re.search(rf"\b{re.escape(term)}\b", text, re.IGNORECASE), f"{spec.card}.md lacks {term!r}"
    assert spec.name in text or spec.version in text, f"{spec.card}.md does not name {key}"


def test_resmem_card_states_that_ad_supported_sites_are_commercial_use() -> None:
    text = card_path(SPECS["resmem:int8"]).read_text(encoding="utf-8")
    assert "non-commercial" in text and "advertising" in text


def test_result_model_infos_link_to_cards_the_api_serves_publicly(world: World) -> None:
    org = world.add_org("cardreader")
    world.campaign(org)
    asset = world.asset(org, "card-check")["asset"]
    assert world.upload(org, asset, jpeg()).status_code == 202
    world.run_jobs()
    r = world.client.get(f"/v1/assets/{asset}/results", headers=org.headers)
    assert r.status_code == 200, r.text
    models = r.json()["analysis"]["models"]
    assert {"memorability", "saliency"} <= set(models)
    for task, info in models.items():
        card = world.client.get(info["card_url"])  # no credentials: cards are public
        assert card.status_code == 200, (task, card.text)
        assert card.headers["content-type"].startswith("text/markdown")
        spec = SPECS[f"{info['name']}:{info['variant']}"]
        assert card.text == card_path(spec).read_text(encoding="utf-8")


def test_models_listing_covers_the_registry_with_served_card_urls(world: World) -> None:
    r = world.client.get("/v1/models")
    assert r.status_code == 200, r.text
    listed = {m["name"]: m for m in r.json()}
    assert set(listed) == {s.name for s in SPECS.values()}
    assert sorted(listed["resmem"]["variants"]) == ["fp32", "int8"]
    assert "non-commercial" in listed["resmem"]["licence"]
    for m in listed.values():
        assert world.client.get(m["card_url"]).status_code == 200


def test_card_of_an_unknown_model_is_a_json_404(world: World) -> None:
    r = world.client.get("/v1/models/no-such-model/card")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_readme_models_table_is_the_one_generated_from_the_registry() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    script = _table_script()
    assert script.START in readme and script.END in readme
    assert script.update_readme(readme) == readme, "README is out of date: run scripts/make_model_table.py"
    for spec in SPECS.values():
        assert f"`{spec.name}`" in script.render_table()


def test_table_update_replaces_only_the_block_between_the_markers() -> None:
    script = _table_script()
    text = f"intro\n{script.START}\n| stale | table |\n{script.END}\noutro\n"
    out = script.update_readme(text)
    assert out.startswith("intro\n") and out.endswith("\noutro\n")
    assert "stale" not in out and script.render_table() in out
    with pytest.raises(ValueError):
        script.update_readme("no markers here")
