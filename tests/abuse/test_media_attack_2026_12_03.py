"""The media path attacked on 2026-12-03: wide-range pictures, broken and odd files, through
the API (a precise 4xx JSON error, nothing stored) and the analysis itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from impactlens.media.thumbnail import image_thumbnail
from tests.api_support import World, make_world
from tests.media_cases import _encode, photo


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("acme"))
    return w


def _grey() -> np.ndarray:
    """An 8-bit grey photo holding both 0 and 255, so a stretch over its range is exact."""
    g = np.asarray(photo(96, 64).convert("L")).copy()
    g[0, 0], g[0, 1] = 0, 255
    return g


# The same picture in wide containers, each at the scale its range says it is in.
WIDE = {
    "int32-past-16-bits": lambda g: _encode(Image.fromarray(g.astype(np.int32) * 16000), "TIFF"),
    "int32-signed": lambda g: _encode(Image.fromarray(g.astype(np.int32) * 1000 - 100_000), "TIFF"),
    "int32-16-bit-values": lambda g: _encode(Image.fromarray(g.astype(np.int32) * 257), "TIFF"),
    "float32-0-1": lambda g: _encode(Image.fromarray(g.astype(np.float32) / 255), "TIFF"),
    "png-16-bit": lambda g: _encode(Image.fromarray(g.astype(np.uint16) * 257), "PNG"),
}


def _analysed(world: World, data: bytes, name: str) -> dict[str, Any]:
    o = world.orgs["acme"]
    asset = world.asset(o, name)["asset"]
    r = world.upload(o, asset, data, filename=name)
    assert r.status_code == 202, r.text
    world.run_jobs()
    res = world.client.get(f"/v1/assets/{asset}/results", headers=o.headers)
    assert res.status_code == 200, res.text
    a = res.json()["analysis"]
    return {k: a[k] for k in ("memorability", "saliency_peaks", "focus", "clutter", "auto_aois", "width", "height")}


@pytest.mark.parametrize("kind", sorted(WIDE))
def test_a_wide_range_picture_is_analysed_and_thumbnailed_as_the_8_bit_picture_it_holds(
    world: World, kind: str
) -> None:
    g = _grey()
    twin = _encode(Image.fromarray(g, "L"), "PNG")
    wide = WIDE[kind](g)
    assert _analysed(world, wide, f"{kind}.tif") == _analysed(world, twin, "twin.png")
    assert image_thumbnail(wide) == image_thumbnail(twin)
