"""Non-finite or absurd AOI numbers: refused before anything is stored, and an item that is
already poisoned cannot break a listing or block its deletion."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.api_support import World, make_world


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("acme"))
    return w


BAD_AOIS = {
    "overflowing x": '{"name": "logo", "x": 1e400, "y": 0, "w": 10, "h": 10}',
    "NaN y": '{"name": "logo", "x": 0, "y": NaN, "w": 10, "h": 10}',
    "-Infinity x": '{"name": "logo", "x": -Infinity, "y": 0, "w": 10, "h": 10}',
    "Infinity w": '{"name": "logo", "x": 0, "y": 0, "w": Infinity, "h": 10}',
    "negative x": '{"name": "logo", "x": -5, "y": 0, "w": 10, "h": 10}',
    "absurd h": '{"name": "logo", "x": 0, "y": 0, "w": 10, "h": 1e12}',
    "NaN end": '{"name": "logo", "x": 0, "y": 0, "w": 10, "h": 10, "start_s": 0, "end_s": NaN}',
    "long name": '{"name": "' + "n" * 65 + '", "x": 0, "y": 0, "w": 10, "h": 10}',
}


@pytest.mark.parametrize("case", sorted(BAD_AOIS))
def test_a_bad_aoi_is_refused_and_nothing_is_stored(world: World, case: str) -> None:
    o = world.orgs["acme"]
    body = '{"brand": "b1", "campaign": "c1", "name": "ad", "aois": [' + BAD_AOIS[case] + "]}"
    headers = {**o.headers, "Content-Type": "application/json"}
    r = world.client.post("/v1/assets", content=body.encode(), headers=headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", r.text
    listing = world.client.get("/v1/assets?brand=b1&campaign=c1", headers=o.headers)
    assert listing.status_code == 200 and listing.json()["items"] == []
    asset = world.asset(o)["asset"]
    aois = ('{"aois": [' + BAD_AOIS[case] + "]}").encode()
    r = world.client.put(f"/v1/assets/{asset}/aois", content=aois, headers=headers)
    assert r.status_code == 422
    assert world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["aois"] == []


def test_a_poisoned_stored_item_cannot_break_the_listing_or_block_deletion(world: World, tmp_path: Path) -> None:
    o = world.orgs["acme"]
    good = world.asset(o, "good", aois=[{"name": "logo", "x": 1, "y": 2, "w": 3, "h": 4}])["asset"]
    bad = world.asset(o, "bad", aois=[{"name": "logo", "x": 1, "y": 2, "w": 3, "h": 4}])["asset"]
    # An item written before validation existed (or by an older version): poison it in place.
    db = sqlite3.connect(tmp_path / "data" / "impactlens.db")
    (data,) = db.execute("SELECT data FROM items WHERE pk=? AND sk='METADATA'", (f"ASSET#{bad}",)).fetchone()
    poisoned = data.replace(json.dumps({"h": 4.0})[1:-1], '"h": Infinity').replace('"x": 1.0', '"x": NaN')
    assert poisoned != data
    db.execute("UPDATE items SET data=? WHERE pk=? AND sk='METADATA'", (poisoned, f"ASSET#{bad}"))
    db.commit()
    db.close()
    listing = world.client.get("/v1/assets?brand=b1&campaign=c1", headers=o.headers)
    assert listing.status_code == 200, listing.text
    assert sorted(i["asset"] for i in listing.json()["items"]) == sorted([good, bad])
    got = world.client.get(f"/v1/assets/{bad}", headers=o.headers)
    assert got.status_code == 200 and got.json()["aois"] == []
    assert world.client.delete(f"/v1/assets/{bad}", headers=o.headers).status_code == 204
    assert world.client.get(f"/v1/assets/{bad}", headers=o.headers).status_code == 404
    assert [i["asset"] for i in world.client.get("/v1/assets", headers=o.headers).json()["items"]] == [good]
