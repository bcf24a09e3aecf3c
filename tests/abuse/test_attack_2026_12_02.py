"""Holes found by attacking the product on 2026-12-02, one test per behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api_support import World, make_world
from tests.media_cases import jpeg

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("acme"))
    return w


def _big_login(size: int) -> bytes:
    return b'{"email": "a@b.test", "password": "' + b"x" * size + b'"}'


def test_an_oversized_json_body_is_refused_before_authentication(world: World) -> None:
    r = world.client.post("/v1/auth/login", content=_big_login(2 << 20), headers=JSON)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large", r.text


def test_an_oversized_body_without_content_length_is_refused(world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"brand": "b2", "name": "'
        for _ in range(3):
            yield b"n" * (1 << 19)
        yield b'"}'

    o = world.orgs["acme"]
    r = world.client.post("/v1/brands", content=chunks(), headers={**o.headers, **JSON})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large", r.text
    assert world.services.repo.get_brand("acme", "b2") is None


def test_an_oversized_page_form_is_refused(world: World) -> None:
    body = b"email=a%40b.test&password=" + b"x" * (2 << 20)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://testserver"}
    r = world.client.post("/login", content=body, headers=headers)
    assert r.status_code == 413, r.text


def test_uploads_larger_than_the_body_cap_still_go_through(world: World) -> None:
    from tests.media_cases import photo

    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    big = jpeg(photo(2400, 1800))
    assert len(big) > 1 << 20
    r = world.upload(o, asset, big)
    assert r.status_code == 202, r.text
