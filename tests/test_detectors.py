"""Face and text detectors on real photographs and drawn text with known boxes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from impactlens.models.detect_text_rec import text_role
from impactlens.models.detect_weights import DETECTOR_SOURCES, detector_files, install_detectors
from impactlens.models.detectors import Detection, TextDetector, iou, load_detectors, nms
from impactlens.models.registry import SPECS, read_manifest
from impactlens.settings import get_settings


def _grace_hopper() -> Image.Image:
    """The portrait matplotlib ships as sample data (found without importing matplotlib)."""
    spec = importlib.util.find_spec("matplotlib")
    assert spec and spec.submodule_search_locations, "make setup installs matplotlib --no-deps for this photograph"
    path = Path(next(iter(spec.submodule_search_locations))) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    return Image.open(path).convert("RGB")


# Hand-labelled face in grace_hopper.jpg (512x600): brow to chin, cheek to cheek, glasses included.
HOPPER_FACE = (165.0, 130.0, 185.0, 205.0)


def _xyxy(box: tuple[float, float, float, float]) -> np.ndarray:
    x, y, w, h = box
    return np.array([x, y, x + w, y + h], np.float64)


def _box_iou(a: tuple[float, float, float, float], b: Detection) -> float:
    return float(iou(_xyxy(a), _xyxy((b.x, b.y, b.w, b.h))[None])[0])


@pytest.fixture(scope="module")
def detectors():
    return load_detectors(get_settings().model_dir, 1)


def test_face_in_a_real_portrait_matches_the_hand_labelled_box(detectors):
    faces = detectors.faces.detect(_grace_hopper())
    assert len(faces) == 1
    assert faces[0].confidence > 0.8
    assert _box_iou(HOPPER_FACE, faces[0]) > 0.6


def test_faces_pasted_at_known_places_and_scales_are_each_found(detectors):
    portrait = _grace_hopper()
    canvas = Image.new("RGB", (1200, 800), (70, 110, 150))
    placements = [((40, 60), 0.5), ((500, 200), 0.8), ((950, 500), 0.35)]
    truth = []
    for (ox, oy), s in placements:
        canvas.paste(portrait.resize((round(512 * s), round(600 * s))), (ox, oy))
        x, y, w, h = HOPPER_FACE
        truth.append((ox + x * s, oy + y * s, w * s, h * s))
    faces = detectors.faces.detect(canvas)
    assert len(faces) == len(truth)
    for box in truth:
        assert max(_box_iou(box, f) for f in faces) > 0.5


def test_no_faces_in_a_scene_without_people(detectors):
    rng = np.random.default_rng(3)
    noise = Image.fromarray(rng.integers(0, 255, (480, 640, 3), np.uint8)).filter(ImageFilter.GaussianBlur(3))
    assert detectors.faces.detect(noise) == []
    assert detectors.faces.detect(Image.new("RGB", (640, 480), "white")) == []


def _draw_lines(size, lines):
    """Draws (text, (x, y), font size) on a light background; returns the image and each line's ink box."""
    canvas = Image.new("RGB", size, (236, 232, 222))
    draw = ImageDraw.Draw(canvas)
    boxes = []
    for text, xy, px in lines:
        font = ImageFont.load_default(px)
        draw.text(xy, text, fill=(25, 25, 30), font=font)
        x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
        boxes.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    return canvas, boxes


def test_drawn_text_lines_are_found_where_they_were_drawn(detectors):
    canvas, truth = _draw_lines(
        (900, 600),
        [
            ("SUMMER SALE 50% OFF", (60, 80), 48),
            ("Free delivery on every order", (120, 300), 30),
            ("Shop now", (600, 480), 36),
        ],
    )
    found = detectors.text.detect(canvas)
    assert len(found) == len(truth)
    for box in truth:
        assert max(_box_iou(box, d) for d in found) > 0.6


def test_text_boxes_scale_back_to_the_original_image(detectors):
    # A tall, narrow image is resized with a different ratio on each axis (multiples of 32).
    canvas, truth = _draw_lines((330, 1000), [("PRICE 9.99", (20, 700), 40)])
    found = detectors.text.detect(canvas)
    assert len(found) == 1 and _box_iou(truth[0], found[0]) > 0.6


def test_no_text_on_a_plain_or_smooth_image(detectors):
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.float32), (480, 1))
    smooth = Image.fromarray(np.stack([gradient, gradient[::-1], np.full_like(gradient, 90)], -1).astype(np.uint8))
    assert detectors.text.detect(smooth) == []
    assert detectors.text.detect(Image.new("RGB", (640, 480), "white")) == []


def test_tiny_and_extreme_images_do_not_fail(detectors):
    for size in ((1, 1), (3000, 8), (8, 3000)):
        image = Image.new("RGB", size, "gray")
        assert detectors.detect(image) == []


def test_probability_map_component_becomes_a_grown_box():
    prob = np.zeros((64, 96), np.float32)
    prob[20:30, 10:60] = 0.9  # one 50x10 line in map cells
    det = TextDetector.__new__(TextDetector)
    det.thresh, det.box_thresh, det.unclip_ratio, det.max_candidates = 0.3, 0.5, 1.5, 100
    (box,) = det.boxes_from_map(prob, (192, 128))  # the image is twice the map's size
    d = 50 * 10 * 1.5 / (2 * 60)  # DB unclip distance in map cells
    assert box.x == pytest.approx((10 - d) * 2) and box.w == pytest.approx((50 + 2 * d) * 2)
    assert box.y == pytest.approx((20 - d) * 2) and box.h == pytest.approx((10 + 2 * d) * 2)
    assert box.confidence == pytest.approx(0.9)


def test_weak_or_blob_shaped_components_are_not_text():
    prob = np.zeros((200, 200), np.float32)
    prob[10:20, 10:80] = 0.4  # above the pixel threshold, below the box threshold
    prob[60:160, 60:140] = 0.95  # a thick, nearly square blob: a sign or a panel
    det = TextDetector.__new__(TextDetector)
    det.thresh, det.box_thresh, det.unclip_ratio, det.max_candidates = 0.3, 0.5, 1.5, 100
    assert det.boxes_from_map(prob, (200, 200)) == []


def test_nms_keeps_the_best_of_overlapping_boxes_and_separate_ones():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float64)
    assert nms(boxes, np.array([0.7, 0.9, 0.5]), 0.3) == [1, 2]


def test_build_copies_the_wheel_files_with_their_hashes(tmp_path):
    messages: list[str] = []
    install_detectors(tmp_path, False, messages.append)
    manifest = read_manifest(tmp_path)
    files = detector_files()
    assert {SPECS[key].filename for key in DETECTOR_SOURCES} < set(files)
    for filename, source in files.items():
        assert manifest[filename]["sha256"] == manifest[filename]["source_sha256"] == source[3]
    assert len(messages) == len(files) == 4
    install_detectors(tmp_path, False, messages.append)
    assert len(messages) == 4  # up to date: nothing copied again


def test_a_tampered_model_file_is_copied_again(tmp_path):
    install_detectors(tmp_path, False, lambda m: None)
    target = tmp_path / SPECS["yunet:fp32"].filename
    target.write_bytes(b"not a model")
    install_detectors(tmp_path, False, lambda m: None)
    assert read_manifest(tmp_path)[target.name]["sha256"] == DETECTOR_SOURCES["yunet:fp32"][3]


def test_registry_records_licence_source_and_input_of_each_detector():
    pairs = (
        ("yunet:fp32", "face_detection"),
        ("ppocrv6-tiny-det:fp32", "text_detection"),
        ("ppocrv6-tiny-rec:fp32", "text_recognition"),
    )
    for key, task in pairs:
        spec = SPECS[key]
        assert spec.task == task
        assert spec.licence.startswith(("MIT", "Apache-2.0"))
        assert spec.source.startswith("pypi:") and spec.input_spec["shape"][:2] == [1, 3]


def test_channel_maps_put_faces_and_text_where_they_are(detectors):
    canvas, truth = _draw_lines((800, 600), [("BIG HEADLINE", (40, 40), 56)])
    canvas.paste(_grace_hopper().resize((256, 300)), (500, 250))
    faces, text = detectors.channel_maps(canvas, (48, 64))
    assert faces.shape == text.shape == (48, 64) and faces.dtype == text.dtype == np.float32
    x, y, w, h = HOPPER_FACE
    # Face cells: the middle of the pasted face; text cells: the middle of the headline.
    fr, fc = int((250 + (y + h / 2) * 0.5) * 48 / 600), int((500 + (x + w / 2) * 0.5) * 64 / 800)
    tx, ty, tw, th = truth[0]
    tr, tc = int((ty + th / 2) * 48 / 600), int((tx + tw / 2) * 64 / 800)
    assert faces[fr, fc] > 0.8 and faces[tr, tc] == 0
    assert text[tr, tc] > 0.5 and text[fr, fc] < 0.2
    assert faces[:, :30].max() == 0  # nothing in the left part but text


def test_the_largest_lines_are_read_and_prices_and_calls_to_action_recognised(detectors):
    canvas, truth = _draw_lines(
        (900, 600),
        [("SUMMER SALE", (60, 60), 56), ("Only $19.99", (80, 250), 40), ("Shop now", (560, 460), 40)],
    )
    lines = sorted(detectors.detect(canvas), key=lambda d: d.y)
    assert [d.text for d in lines if d.kind == "text"] == ["SUMMER SALE", "Only $19.99", "Shop now"]
    assert [text_role(d.text) for d in lines] == [None, "price", "call_to_action"]


def test_text_roles_from_words():
    assert text_role("Now 49,90 €") == "price"
    assert text_role("-30% off everything") == "price"
    assert text_role("Sign up today") == "call_to_action"
    assert text_role("Learn more") == "call_to_action"
    assert text_role("Summer collection") is None
    assert text_role("budget") is None  # "get" inside a word is not an action
    assert text_role(None) is None
