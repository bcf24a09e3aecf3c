"""Detected video elements carry their track, so a kept one is measured where it is."""

from __future__ import annotations

import numpy as np

from impactlens.engine.elements import auto_aois, track_elements
from impactlens.engine.tracks import boxes_at
from impactlens.engine.types import VideoAttentionShare
from impactlens.models.detectors import Detection


def _face(x: float, y: float = 100.0, w: float = 80.0, h: float = 90.0) -> Detection:
    return Detection("face", x, y, w, h, 0.9)


def test_a_face_crossing_the_frame_gets_keyframes_that_follow_it() -> None:
    # One detection a second, the face sliding 40 px/s to the right, then holding still.
    xs = [10, 50, 90, 130, 170, 170, 170]
    instants = [(float(t), [_face(x)]) for t, x in enumerate(xs)]
    ((aoi, mean),) = track_elements(instants, 1.0, 8.0)
    assert aoi.track is not None
    assert [(p.t, p.x) for p in aoi.track] == [(0.0, 10.0), (4.0, 170.0), (6.0, 170.0)]
    # Between keyframes the box is where the face was detected.
    at = boxes_at(aoi, np.array([0.0, 1.0, 2.5, 5.0]))
    np.testing.assert_allclose(at[:, 0], [10.0, 50.0, 110.0, 170.0])
    np.testing.assert_allclose(at[:, 1:], [[100.0, 80.0, 90.0]] * 4)
    assert aoi.x == np.mean(xs)  # the one box stays the mean, for what needs one box


def test_a_face_that_holds_still_keeps_its_one_box_and_no_track() -> None:
    jitter = [0.0, 0.4, -0.3, 0.2]  # detector noise under a pixel
    instants = [(float(t), [_face(200 + j, 100 - j)]) for t, j in enumerate(jitter)]
    ((aoi, _),) = track_elements(instants, 1.0, 5.0)
    assert aoi.track is None


def test_the_automatic_aoi_carries_the_track_a_user_keeps() -> None:
    instants = [(float(t), [_face(10 + 20 * t)]) for t in range(4)]
    named = track_elements(instants, 1.0, 4.0)
    share = VideoAttentionShare(name="face_1", first_3s=0.1, first_5s=0.1, whole=0.1, area_fraction=0.05)
    (auto,) = auto_aois(named, [share])
    assert auto.track is not None and [p.x for p in auto.track] == [10.0, 70.0]
