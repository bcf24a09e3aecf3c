"""The image painter: maps computed a strip at a time equal the whole-frame ones."""

import io
import sys

import numpy as np
import pytest
from PIL import Image

from impactlens.engine.image import attention_shares
from impactlens.engine.types import AOI
from impactlens.media import heatmap
from impactlens.media.heatmap import Density, blend_heatmap, density_png16, upsample_density

W, H = 523, 389


@pytest.fixture
def grid():
    rng = np.random.default_rng(3)
    g = rng.random((48, 64)) ** 3
    return g / g.sum()


@pytest.fixture(autouse=True)
def small_strips(monkeypatch):
    monkeypatch.setattr(heatmap, "STRIP_PIXELS", 7 * W)  # many strips, a short last one


def test_saliency_png_in_strips_equals_the_whole_frame_map(grid):
    whole = np.asarray(density_png16(upsample_density(grid, W, H)), np.int32)
    strips = np.asarray(heatmap.saliency_image(Density(grid, W, H)), np.int32)
    assert strips.shape == whole.shape == (H, W)
    assert strips.max() == 65535
    assert np.abs(strips - whole).max() <= 1


def test_heatmap_in_strips_equals_blending_the_whole_frame(grid):
    rng = np.random.default_rng(4)
    picture = Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8), "RGB")
    whole = np.asarray(blend_heatmap(picture, upsample_density(grid, W, H)), np.int32)
    strips = np.asarray(heatmap.heatmap_image(picture, Density(grid, W, H)), np.int32)
    assert np.abs(strips - whole).max() <= 1


def test_attention_shares_from_strips_equal_sums_over_the_whole_map(grid):
    aois = [
        AOI(name="all", x=0, y=0, w=W, h=H),
        AOI(name="corner", x=10, y=20, w=100, h=150),
        AOI(name="edge", x=W - 50, y=H - 60, w=200, h=200),
    ]
    whole = attention_shares(upsample_density(grid, W, H), aois)
    strips = attention_shares(Density(grid, W, H), aois)
    assert strips[0].share == pytest.approx(1.0, abs=1e-6)
    for a, b in zip(whole, strips, strict=True):
        assert b.share == pytest.approx(a.share, rel=1e-5, abs=1e-9)
        assert b.area_fraction == a.area_fraction


def test_render_pngs_yields_saliency_before_asking_for_the_picture(grid):
    asked = []

    def picture():
        asked.append(True)
        return Image.new("RGB", (W, H), "white")

    outputs = heatmap.render_pngs(picture, Density(grid, W, H))
    name, _ = next(outputs)
    assert (name, asked) == ("saliency", [])
    name, png = next(outputs)
    assert name == "heatmap" and asked == [True]
    with Image.open(io.BytesIO(png)) as im:
        assert im.size == (W, H) and im.mode == "RGB"


def _float_blend(picture: Image.Image, norm: np.ndarray, max_alpha: float = 0.65) -> np.ndarray:
    """The blend as it was computed in float before the integer composite."""
    colours = heatmap.turbo_lut(norm).astype(np.float32)
    alpha = (max_alpha * np.sqrt(norm))[..., None].astype(np.float32)
    rgb = np.asarray(picture, dtype=np.float32)
    return np.clip(rgb * (1 - alpha) + colours * alpha + 0.5, 0, 255).astype(np.int32)


def test_heatmap_blend_equals_the_float_blend_within_one_level(grid):
    rng = np.random.default_rng(5)
    picture = Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), "RGB")
    density = upsample_density(grid, W, H)
    ours = np.asarray(blend_heatmap(picture, density), np.int32)
    assert np.abs(ours - _float_blend(picture, density / density.max())).max() <= 1


def test_packed_colour_table_gives_the_table_colours(grid):
    norm = upsample_density(grid, W, H)
    norm = norm / norm.max()
    assert np.array_equal(np.asarray(heatmap._turbo_image(norm)), heatmap.turbo_lut(norm))


@pytest.mark.parametrize("isal", [True, False])
@pytest.mark.parametrize("mode", ["RGB", "L", "I;16"])
def test_png_writer_round_trips_every_pixel_across_strips(mode, isal, monkeypatch):
    if not isal:  # the standard library's zlib when the optional isal package is missing
        monkeypatch.setitem(sys.modules, "isal", None)
    rng = np.random.default_rng(6)
    if mode == "RGB":
        image = Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), mode)
    elif mode == "L":
        image = Image.fromarray(rng.integers(0, 256, (H, W), dtype=np.uint8), mode)
    else:
        image = Image.fromarray(rng.integers(0, 65536, (H, W), dtype=np.uint16))
    png = heatmap._png(image)
    with Image.open(io.BytesIO(png)) as back:
        back.load()
        assert back.format == "PNG" and back.size == (W, H)
        assert np.array_equal(np.asarray(back).astype(np.int64), np.asarray(image).astype(np.int64))
