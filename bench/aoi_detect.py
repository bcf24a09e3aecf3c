"""Automatic AOIs on OSIE 1601-1700: detector speed against the saliency model, recall on
composites with known boxes, and where people actually looked.

    .venv/bin/python bench/aoi_detect.py [--data ../shared/data/osie] [--limit 100] [--threads 2]

OSIE has fixations but no face or text boxes, so recall is measured on composites built
from each evaluation image, with known boxes:
- face recall: the portrait matplotlib ships (grace_hopper.jpg, face hand-labelled as
  tests/test_detectors.HOPPER_FACE) pasted once per image at a random place and scale (face
  height 28-220 px on the 800x600 image), brightness 0.6-1.3x; a face counts as found when a
  detection overlaps the pasted face box with IoU >= 0.5. One identity only: this measures
  scale, position and background robustness, not demographic coverage.
- text recall: two words per image drawn by PIL (default font, 16-64 px, random dark or light
  colour, half of them on a contrasting plate, as in adverts) at random places; a word is
  found when a text detection's box overlaps its ink box with IoU >= 0.5.
Reading: for each found word, whether the recogniser read it exactly (case aside) and gave
it the role (price / call to action / none) its true text has; its time is the reading of
the 6 largest lines of the real photograph.
Timing: per image, YuNet, the text detector and the saliency model on the original OSIE
photograph, in the same process (ratios are the stable figures); and the whole analysis
(decode + memorability + saliency + detectors + measures + heatmap rendering) per image.
On the real photographs we also report the share of human fixations inside detected
face/text boxes divided by their area share (a lift > 1: people looked there more than chance).
Last line: `face_ms=<a> text_ms=<b> face_recall=<c> text_recall=<d>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.engine.image import ImageEngine, write_image_outputs  # noqa: E402
from impactlens.evaluation.fixations import load_fixations  # noqa: E402
from impactlens.media.image_io import decode_image  # noqa: E402
from impactlens.models.detect_text_rec import text_role  # noqa: E402
from impactlens.models.detectors import iou, load_detectors  # noqa: E402
from impactlens.models.runtime import load_saliency  # noqa: E402
from impactlens.settings import Settings, get_settings  # noqa: E402
from tests.test_detectors import HOPPER_FACE, _grace_hopper  # noqa: E402

WORDS = ["SALE", "Buy now", "50% OFF", "Free delivery", "New", "$19.99", "Order today", "Limited offer", "Shop"]


def _ms(fn, *args) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn(*args)
    return 1000 * (time.perf_counter() - t)


def _boxes(dets) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.array([[d.x, d.y, d.x + d.w, d.y + d.h] for d in dets]).reshape(-1, 4)


def _face_composite(bg: Image.Image, portrait: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, np.ndarray]:
    face_h = float(rng.uniform(28, 220))
    s = face_h / HOPPER_FACE[3]
    pw, ph = round(portrait.width * s), round(portrait.height * s)
    piece = ImageEnhance.Brightness(portrait.resize((pw, ph), Image.Resampling.BILINEAR)).enhance(rng.uniform(0.6, 1.3))
    fx, fy, fw, fh = (v * s for v in HOPPER_FACE)
    # Place so that the whole face is inside the image; the rest of the portrait may be cut.
    ox = int(rng.uniform(-fx, bg.width - fx - fw))
    oy = int(rng.uniform(-fy, bg.height - fy - fh))
    out = bg.copy()
    out.paste(piece, (ox, oy))
    return out, np.array([ox + fx, oy + fy, ox + fx + fw, oy + fy + fh])


def _text_composite(bg: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, list[np.ndarray], list[str]]:
    out = bg.copy()
    draw = ImageDraw.Draw(out)
    boxes: list[np.ndarray] = []
    written: list[str] = []
    for _ in range(2):
        for _attempt in range(20):
            font = ImageFont.load_default(int(rng.integers(16, 65)))
            word = WORDS[int(rng.integers(len(WORDS)))]
            x, y = int(rng.integers(0, bg.width - 50)), int(rng.integers(0, bg.height - 30))
            x0, y0, x1, y1 = draw.textbbox((x, y), word, font=font)
            box = np.array([x0, y0, x1, y1], float)
            clear = all(iou(box + [-20, -20, 20, 20], b[None])[0] == 0 for b in boxes)
            if x1 < bg.width and y1 < bg.height and clear:
                break
        dark = bool(rng.integers(2))
        ink = (15, 15, 20) if dark else (250, 250, 245)
        if rng.random() < 0.5:
            draw.rectangle([x0 - 10, y0 - 8, x1 + 10, y1 + 8], fill=(245, 240, 230) if dark else (180, 20, 30))
        draw.text((x, y), word, fill=ink, font=font)
        boxes.append(box)
        written.append(word)
    return out, boxes, written


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "osie")
    ap.add_argument("--first", type=int, default=1601)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--text-side", type=int, help="the text detector's long side (default: TextDetector's)")
    args = ap.parse_args()
    base = get_settings()
    settings = Settings(**{**base.model_dump(), "threads": args.threads})
    det = load_detectors(settings.model_dir, args.threads)
    if args.text_side:
        det.text.long_side = args.text_side
    sal = load_saliency(settings.saliency_model, "fp32", settings.model_dir, args.threads)
    engine = ImageEngine.from_settings(settings, "int8")
    fixations = load_fixations(args.data / "fixations.csv")
    portrait = _grace_hopper()
    rng = np.random.default_rng(1601)
    names = [f"{i}.jpg" for i in range(args.first, args.first + args.limit)]
    t_face, t_text, t_sal, t_whole, t_read = [], [], [], [], []
    read_ok, role_ok, read_total = 0, 0, 0
    face_hits, text_hits, text_total, false_faces = 0, 0, 0, 0
    fix_in = {"face": [], "text": []}  # type: ignore[var-annotated]
    warm = Image.open(args.data / "images" / names[0]).convert("RGB")
    det.detect(warm), sal.predict(warm)
    with tempfile.TemporaryDirectory() as tmp:
        for n in names:
            path = args.data / "images" / n
            image = Image.open(path).convert("RGB")
            t_face.append(_ms(det.faces.detect, image))
            t_text.append(_ms(det.text.detect, image))
            lines = det.text.detect(image)
            if det.reader is not None and lines:
                t_read.append(_ms(det.reader.read_largest, image, lines))
            t_sal.append(_ms(sal.predict, image))
            t = time.perf_counter()
            outcome = engine.analyse(decode_image(path, settings.max_image_pixels), [], n)
            write_image_outputs(outcome, Path(tmp), "bench")
            t_whole.append(1000 * (time.perf_counter() - t))
            pts = fixations.get(n, np.zeros((0, 2)))
            for kind in ("face", "text"):
                boxes = [a for a in outcome.analysis.auto_aois if a.kind == kind]
                if not boxes or not len(pts):
                    continue
                inside = np.zeros(len(pts), bool)
                mask = np.zeros((image.height, image.width), bool)
                for a in boxes:
                    px, py = pts[:, 0], pts[:, 1]
                    inside |= (px >= a.x) & (px < a.x + a.w) & (py >= a.y) & (py < a.y + a.h)
                    mask[int(a.y) : int(a.y + a.h) + 1, int(a.x) : int(a.x + a.w) + 1] = True
                fix_in[kind].append(float(inside.mean()) / max(float(mask.mean()), 1e-9))
            composite, truth = _face_composite(image, portrait, rng)
            found = _boxes(det.faces.detect(composite))
            real = _boxes(det.faces.detect(image))
            face_hits += bool(len(found) and iou(truth, found).max() >= 0.5)
            false_faces += max(0, len(found) - len(real) - 1)
            drawn, words, drawn_words = _text_composite(image, rng)
            tlines = det.text.detect(drawn)
            tfound = _boxes(tlines)
            text_total += len(words)
            text_hits += sum(bool(len(tfound) and iou(b, tfound).max() >= 0.5) for b in words)
            if det.reader is not None and tlines:
                tlines = det.reader.read_largest(drawn, tlines)
                for b, word in zip(words, drawn_words, strict=True):
                    overlaps = iou(b, tfound)
                    if overlaps.max() >= 0.5:
                        got = tlines[int(overlaps.argmax())].text
                        read_total += 1
                        read_ok += (got or "").strip().lower() == word.lower()
                        role_ok += text_role(got) == text_role(word)
    med = statistics.median
    print(
        f"images: {len(names)} ({args.data.name} {names[0]}-{names[-1]}), threads {args.threads}, "
        f"text detector long side {det.text.long_side}"
    )
    print(
        f"median ms: face {med(t_face):.1f}, text {med(t_text):.1f}, saliency {med(t_sal):.1f}, "
        f"whole {med(t_whole):.1f}"
    )
    print(
        f"ratio to saliency (same run): face {med(t_face) / med(t_sal):.2f}, text {med(t_text) / med(t_sal):.2f}, "
        f"whole analysis {med(t_whole) / med(t_sal):.2f}"
    )
    print(f"face composites: {face_hits}/{len(names)} found, extra detections beyond the photo's own: {false_faces}")
    print(f"text composites: {text_hits}/{text_total} words found (IoU >= 0.5)")
    if read_total:
        print(
            f"reading (found words): {read_ok}/{read_total} read exactly, role (price / call to action / other) "
            f"right for {role_ok}/{read_total}; reading the 6 largest lines: median {med(t_read):.1f} ms "
            f"= {med(t_read) / med(t_sal):.2f}x saliency"
        )
    for kind, lifts in fix_in.items():
        if lifts:
            print(f"human fixation lift in detected {kind} boxes: median {med(lifts):.2f} over {len(lifts)} images")
    print(
        f"face_ms={med(t_face):.1f} text_ms={med(t_text):.1f} "
        f"face_recall={face_hits / len(names):.3f} text_recall={text_hits / max(text_total, 1):.3f}"
    )


if __name__ == "__main__":
    main()
