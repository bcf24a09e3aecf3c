"""Automatic AOIs, focus and clutter in image analyses."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from impactlens import AOI, analyze_image
from impactlens.engine import ImageEngine
from impactlens.engine.elements import (
    clutter_features,
    element_boxes,
    element_reference,
    focus,
    measures,
    reference_percentile,
    text_blocks,
)
from impactlens.engine.image import attention_shares
from impactlens.engine.types import ImageAnalysis
from impactlens.media.heatmap import upsample_density
from impactlens.models.detectors import Detection
from impactlens.settings import Settings, get_settings
from tests.conftest import SAMPLES
from tests.test_detectors import HOPPER_FACE, _grace_hopper


def _advert(tmp_path):
    """A portrait beside a two-line headline and a button: one face, two text blocks."""
    canvas = Image.new("RGB", (1000, 700), (240, 236, 228))
    canvas.paste(_grace_hopper().resize((384, 450)), (560, 120))  # scale 0.75
    draw = ImageDraw.Draw(canvas)
    big, small = ImageFont.load_default(52), ImageFont.load_default(34)
    draw.text((50, 120), "Code that", font=big, fill=(20, 20, 40))
    draw.text((50, 190), "changed everything", font=big, fill=(20, 20, 40))
    headline = draw.textbbox((50, 120), "Code that", font=big)[:2] + draw.textbbox(
        (50, 190), "changed everything", font=big
    )[2:]
    draw.rectangle([60, 520, 300, 600], fill=(200, 30, 40))
    draw.text((90, 540), "Buy now", font=small, fill="white")
    path = tmp_path / "advert.png"
    canvas.save(path)
    x, y, w, h = HOPPER_FACE
    face = (560 + x * 0.75, 120 + y * 0.75, w * 0.75, h * 0.75)
    return path, face, headline


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_an_advert_reports_its_face_and_text_blocks_as_named_aois(engine, tmp_path):
    path, face, headline = _advert(tmp_path)
    result = analyze_image(path, engine=engine)
    by_name = {a.name: a for a in result.auto_aois}
    assert [a.name for a in result.auto_aois if a.kind == "face"] == ["face_1"]
    f = by_name["face_1"]
    assert f.confidence > 0.8 and _overlap((f.x, f.y, f.w, f.h), face) > 0.5
    # The two headline lines are one block, the largest text; the button is another block.
    t = by_name["text_1"]
    hx0, hy0, hx1, hy1 = headline
    assert _overlap((t.x, t.y, t.w, t.h), (hx0, hy0, hx1 - hx0, hy1 - hy0)) > 0.5
    texts = [a for a in result.auto_aois if a.kind == "text" and a.name != "text_1"]
    button = [a for a in texts if _overlap((a.x, a.y, a.w, a.h), (90, 540, 150, 40)) > 0.3]
    assert len(button) == 1
    assert button[0].text == "Buy now" and button[0].role == "call_to_action"
    assert t.text == "Code that changed everything" and t.role is None
    # Anything else found is the portrait's own lettering (her name tag, the ribbons).
    for a in texts:
        if a is not button[0]:
            assert a.x >= 560 and a.y >= 120 and a.x + a.w <= 944 and a.y + a.h <= 570
    assert "faces" in result.models and "text" in result.models
    assert result.models["faces"].sha256 and result.models["faces"].licence.startswith("MIT")


def test_auto_aoi_attention_is_what_the_same_user_aoi_gets(engine, tmp_path):
    path, _, _ = _advert(tmp_path)
    first = analyze_image(path, engine=engine)
    # Keeping (and renaming) an automatic AOI = sending it back as a user AOI.
    kept = [AOI.model_validate({**a.model_dump(), "name": f"my_{a.name}"}) for a in first.auto_aois]
    again = analyze_image(path, kept, engine=engine)
    for auto, user in zip(first.auto_aois, again.attention, strict=True):
        assert user.name == f"my_{auto.name}"
        assert user.share == pytest.approx(auto.attention.share, rel=1e-6)
        assert user.area_fraction == pytest.approx(auto.attention.area_fraction)
        assert user.lift == pytest.approx(auto.attention.lift, rel=1e-6)
    # The face draws more attention than its size.
    face = next(a for a in first.auto_aois if a.kind == "face")
    assert face.attention.lift > 1.0


def test_results_round_trip_through_json_with_auto_aois_and_measures(engine, tmp_path):
    path, _, _ = _advert(tmp_path)
    result = analyze_image(path, engine=engine)
    back = ImageAnalysis.model_validate_json(result.model_dump_json())
    assert back.auto_aois == result.auto_aois
    assert back.focus == result.focus and back.clutter_percentile == result.clutter_percentile
    assert 0 <= result.focus <= 1 and 0 <= result.focus_percentile <= 100
    assert result.clutter > 0 and 0 <= result.clutter_percentile <= 100
    assert result.timings_s["detect"] > 0 and result.timings_s["measures"] > 0


def test_detection_can_be_switched_off(tmp_path):
    settings = Settings(**{**get_settings().model_dump(), "detect_elements": False})
    engine = ImageEngine.from_settings(settings, "int8")
    path, _, _ = _advert(tmp_path)
    result = analyze_image(path, engine=engine)
    assert result.auto_aois == [] and "faces" not in result.models
    assert result.focus is not None  # the measures do not need the detectors


def test_a_photograph_without_faces_or_text_has_no_auto_aois(engine):
    result = analyze_image(SAMPLES[2], engine=engine)  # NUS scene 463: a landscape
    assert [a for a in result.auto_aois if a.kind == "face"] == []


def _line(x, y, w, h, conf=0.9):
    return Detection("text", x, y, w, h, conf)


def test_stacked_lines_form_one_block_and_distant_ones_stay_apart():
    lines = [_line(10, 10, 200, 30), _line(12, 48, 150, 30, 0.7), _line(400, 400, 100, 20)]
    blocks = sorted(text_blocks(lines), key=lambda b: b.y)
    assert len(blocks) == 2
    assert (blocks[0].x, blocks[0].y, blocks[0].w, blocks[0].h) == (10, 10, 200, 68)
    assert blocks[0].confidence == pytest.approx((0.9 * 6000 + 0.7 * 4500) / 10500)
    # Words on one line with a word gap join; a line far below does not.
    assert len(text_blocks([_line(0, 0, 50, 20), _line(65, 2, 40, 20)])) == 1
    assert len(text_blocks([_line(0, 0, 50, 20), _line(0, 80, 50, 20)])) == 2


def test_element_names_are_numbered_by_size_and_capped():
    faces = [Detection("face", i * 50, 0, 10 + i, 10 + i, 0.9) for i in range(14)]
    named = element_boxes(faces)
    assert [a.name for a, _ in named] == [f"face_{n}" for n in range(1, 11)]
    assert named[0][1].w == 23  # the largest first


def test_focus_is_zero_for_a_uniform_map_and_one_for_a_single_cell():
    assert focus(np.ones((48, 64))) == pytest.approx(0.0, abs=1e-12)
    one = np.zeros((48, 64))
    one[10, 10] = 1
    assert focus(one) == pytest.approx(1.0)
    yy, xx = np.mgrid[:48, :64]
    narrow = np.exp(-((xx - 32) ** 2 + (yy - 24) ** 2) / (2 * 3.0**2))
    wide = np.exp(-((xx - 32) ** 2 + (yy - 24) ** 2) / (2 * 12.0**2))
    assert focus(narrow) > focus(wide) > 0


def test_clutter_orders_flat_photograph_and_busy_images():
    rng = np.random.default_rng(0)
    flat = Image.new("RGB", (640, 480), (120, 140, 160))
    one_edge = Image.fromarray(np.repeat(np.repeat([[0, 255]], 240, 0), 320, 1).astype(np.uint8)).convert("RGB")
    # A mosaic of random colours in 16 px tiles: many colours and edges crowded together.
    busy = Image.fromarray(np.kron(rng.integers(0, 255, (30, 40, 3)), np.ones((16, 16, 1))).astype(np.uint8))
    norms = element_reference()["clutter_norms"]
    values = [
        np.mean([clutter_features(im)[k] / norms[k] for k in norms])
        for im in (flat, one_edge, Image.open(SAMPLES[0]), busy)
    ]
    assert values[0] == 0.0
    assert values == sorted(values) and len(set(values)) == 4
    assert clutter_features(one_edge)["orientation"] < 0.05 * clutter_features(busy)["orientation"]


def test_percentiles_are_mid_ranks_in_the_reference():
    ref = [0.1, 0.2, 0.2, 0.4]
    assert reference_percentile(0.0, ref) == 0.0
    assert reference_percentile(0.2, ref) == pytest.approx(50.0)
    assert reference_percentile(1.0, ref) == 100.0
    reference = element_reference()
    assert len(reference["clutter"]) >= 50 and reference["clutter"] == sorted(reference["clutter"])
    # Focus depends on the saliency model: the configured one must have its reference.
    focus_ref = reference["focus"][get_settings().saliency_model]
    assert len(focus_ref) == len(reference["clutter"]) and focus_ref == sorted(focus_ref)


def test_measures_of_a_reference_photograph_are_mid_range(engine):
    image = Image.open(SAMPLES[0]).convert("RGB")
    grid, _ = engine.saliency.predict(image)
    m = measures(grid, image, engine.saliency.spec.name)
    assert 0 < m["focus_percentile"] < 100 and 0 < m["clutter_percentile"] <= 100
    # A saliency model without a focus reference gets no focus percentile rather than a wrong one.
    other = measures(grid, image, "a-model-without-reference")
    assert other["focus_percentile"] is None and other["focus"] == m["focus"]
    density = upsample_density(grid, *image.size)
    whole = attention_shares(density, [AOI(name="all", x=0, y=0, w=image.width, h=image.height)])
    assert whole[0].share == pytest.approx(1.0, abs=1e-4)


def test_video_reports_tracked_elements_with_the_time_they_are_on_screen(tmp_path):
    from impactlens.pipeline import LocalVideoAnalyser
    from tests.video_cases import write_video

    w, h = 640, 360
    portrait = np.asarray(_grace_hopper().resize((256, 300)))
    backdrop = np.full((h, w, 3), (60, 90, 120), np.uint8)
    title = Image.fromarray(backdrop)
    ImageDraw.Draw(title).text((30, 150), "Summer sale", font=ImageFont.load_default(44), fill="white")
    with_title = np.asarray(title)

    def frame(i: int, t: float) -> np.ndarray:
        out = (with_title if t < 3.0 else backdrop).copy()
        if t >= 2.0:  # the portrait enters at 2 s and stays
            out[30:330, 360:616] = portrait
        return out

    path = write_video(tmp_path / "ad.mp4", seconds=6.0, size=(w, h), frame=frame)
    settings = get_settings().model_copy(update={"variant": "int8", "video_chunk_seconds": 2.0})
    with LocalVideoAnalyser(settings, workers=0) as va:
        result = va.analyse(path, [], tmp_path / "out")
    by_kind: dict[str, list] = {}
    for a in result.auto_aois:
        by_kind.setdefault(a.kind, []).append(a)
    (face,) = by_kind["face"]
    x, y, fw, fh = HOPPER_FACE
    s = 256 / 512
    assert _overlap((face.x, face.y, face.w, face.h), (360 + x * s, 30 + y * s, fw * s, fh * s)) > 0.5
    assert face.start_s == pytest.approx(2.0, abs=0.6) and face.end_s == pytest.approx(6.0, abs=0.6)
    title_aoi = max(by_kind["text"], key=lambda a: a.w * a.h)
    assert title_aoi.start_s == pytest.approx(0.0, abs=0.1) and title_aoi.end_s == pytest.approx(3.0, abs=0.6)
    # Attention is counted only while the element is on screen, like a timed user AOI.
    assert face.attention.first_3s < face.attention.whole
    assert face.attention.area_fraction == pytest.approx(face.w * face.h / (w * h))


def test_video_detection_instants_are_about_one_a_second_and_capped():
    from impactlens.engine.elements import MAX_DETECT_INSTANTS, detection_instants

    assert detection_instants(20, 2.0) == list(range(0, 20, 2))
    assert detection_instants(0, 2.0) == []
    long = detection_instants(2 * 600, 2.0)  # a 10-minute video at 2 samples a second
    assert len(long) == MAX_DETECT_INSTANTS and long[0] == 0 and long[-1] == 1199


def test_through_the_api_auto_aois_are_kept_renamed_or_dropped_as_user_aois(tmp_path):
    from tests.api_support import make_world

    world = make_world(tmp_path)
    o = world.add_org("acme")
    world.campaign(o)
    path, _, _ = _advert(tmp_path)
    asset = world.asset(o, "advert")["asset"]
    assert world.upload(o, asset, path.read_bytes(), "advert.png").status_code == 202
    assert world.run_jobs() == 1
    url = f"/v1/assets/{asset}/results"
    analysis = world.client.get(url, headers=o.headers).json()["analysis"]
    auto = {a["name"]: a for a in analysis["auto_aois"]}
    assert {"face_1", "text_1"} <= set(auto) and analysis["attention"] == []
    # Keep the face renamed, keep text_1 as is, drop the rest: the items are sent back as they came.
    keep = [{**auto["face_1"], "name": "presenter"}, auto["text_1"]]
    r = world.client.put(f"/v1/assets/{asset}/aois", json={"aois": keep}, headers=o.headers)
    assert r.status_code == 200, r.text
    after = world.client.get(url, headers=o.headers).json()["analysis"]
    shares = {s["name"]: s for s in after["attention"]}
    assert sorted(shares) == ["presenter", "text_1"]
    assert shares["presenter"]["share"] == pytest.approx(auto["face_1"]["attention"]["share"], rel=1e-4)
    assert shares["text_1"]["lift"] == pytest.approx(auto["text_1"]["attention"]["lift"], rel=1e-4)
    assert after["auto_aois"] == analysis["auto_aois"]  # the detections themselves are kept as found
