"""Video AOI shares from stored grids equal the full-size density's, without building it."""

from __future__ import annotations

import numpy as np
import pytest

from impactlens.engine.image import attention_shares
from impactlens.engine.types import AOI
from impactlens.engine.video import frame_shares, video_attention
from impactlens.media.heatmap import upsample_density


def shares_through_full_maps(
    times: np.ndarray, grids: np.ndarray, aois: list[AOI], display: tuple[int, int], frame: tuple[int, int]
) -> np.ndarray:
    """The definition: each instant's grid at the frame's size, summed inside each active AOI."""
    sx, sy = frame[0] / display[0], frame[1] / display[1]
    out = np.zeros((len(times), len(aois)))
    for i, (t, grid) in enumerate(zip(times, grids, strict=True)):
        density = upsample_density(grid, *frame)
        for j, a in enumerate(aois):
            if a.active_at(float(t)):
                box = a.model_copy(update={"x": a.x * sx, "y": a.y * sy, "w": a.w * sx, "h": a.h * sy})
                out[i, j] = attention_shares(density, [box])[0].share
    return out


@pytest.mark.parametrize(
    ("frame", "display", "grid"),
    [((640, 360), (1920, 1080), (40, 72)), ((360, 640), (1080, 1920), (72, 40)), ((512, 384), (512, 384), (48, 64))],
)
def test_frame_shares_equal_the_full_size_density_sums(
    frame: tuple[int, int], display: tuple[int, int], grid: tuple[int, int]
) -> None:
    rng = np.random.default_rng(1)
    grids = rng.random((12, *grid)).astype(np.float32) ** 4
    grids /= grids.sum((1, 2), keepdims=True)
    grids[3] = 0.0  # a degenerate grid: the full-size path falls back to a uniform map
    times = np.arange(12) / 2.0
    aois = [
        AOI(name="inside", x=100, y=50, w=400, h=300),
        AOI(name="corner_timed", x=-20, y=-20, w=60, h=5000, start_s=1.5, end_s=4),
        AOI(name="right_edge", x=display[0] - 3, y=10, w=500, h=40),
        AOI(name="outside", x=5000, y=5000, w=10, h=10),
        AOI(name="whole", x=0, y=0, w=display[0], h=display[1]),
    ]
    got = frame_shares(times, grids, aois, display, frame)
    want = shares_through_full_maps(times, grids, aois, display, frame)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
    assert got[:, 4] == pytest.approx(1.0)  # the whole frame holds all the attention
    assert (got[:3, 1] == 0).all() and (got[8:, 1] == 0).all()  # inactive outside its window


def test_video_attention_windows_average_the_instants_shares() -> None:
    rng = np.random.default_rng(2)
    grids = rng.random((10, 48, 64)).astype(np.float32)
    grids /= grids.sum((1, 2), keepdims=True)
    times = np.arange(10) * 1.0
    aoi = AOI(name="logo", x=0, y=0, w=256, h=192)
    per_instant = shares_through_full_maps(times, grids, [aoi], (512, 384), (512, 384))[:, 0]
    [share] = video_attention(times, grids, [aoi], (512, 384), (512, 384))
    assert share.first_3s == pytest.approx(per_instant[:3].mean(), rel=1e-5)
    assert share.whole == pytest.approx(per_instant.mean(), rel=1e-5)
    assert share.area_fraction == pytest.approx(0.25)


def test_an_aois_shares_do_not_depend_on_the_aois_measured_beside_it() -> None:
    """One BLAS product over all AOIs picked its kernel (and summation order) by their number:
    a user's AOI measured alone, among auto AOIs, or after a PUT that added one differed in
    the last digits. Each share is now its own fixed-order sum."""
    rng = np.random.default_rng(3)
    grids = rng.random((40, 40, 72)).astype(np.float32) ** 4
    grids /= grids.sum((1, 2), keepdims=True)
    times = np.arange(40) / 2.0
    moving = AOI(
        name="moving",
        x=0,
        y=0,
        w=300,
        h=200,
        track=[{"t": 0, "x": 0, "y": 0, "w": 300, "h": 200}, {"t": 19.5, "x": 1500, "y": 800, "w": 300, "h": 200}],
    )
    aois = [AOI(name=f"a{i}", x=90 * i, y=40 * i, w=400, h=300) for i in range(7)] + [moving]
    together = frame_shares(times, grids, aois, (1920, 1080), (640, 360))
    for j, a in enumerate(aois):
        alone = frame_shares(times, grids, [a], (1920, 1080), (640, 360))[:, 0]
        assert np.array_equal(alone, together[:, j]), (a.name, np.abs(alone - together[:, j]).max())
        assert (
            video_attention(times, grids, [a], (1920, 1080), (640, 360))[0]
            == video_attention(times, grids, aois, (1920, 1080), (640, 360))[j]
        )
