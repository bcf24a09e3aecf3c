"""Reading detected text lines (PP-OCRv6 tiny recogniser, CTC), to tell prices and calls to
action from other text.

Only the largest lines are read (``MAX_READ_LINES``), in one batch: reading is there to label
the text blocks an ad is judged by, not to transcribe small print, and it keeps the cost
bounded whatever the image holds.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from .detectors import Detection
from .runtime import ort_session

REC_HEIGHT = 48
REC_MIN_WIDTH = 320
REC_MAX_RATIO = 25.0  # longest line read, as width / height
MAX_READ_LINES = 6
PAD = 0.2  # of the line's height, around our tight boxes: the recogniser was trained on looser crops

_CURRENCY = r"[$€£¥₹]|\b(?:usd|eur|gbp|chf|jpy|inr|rs)\b"
_PRICE = re.compile(
    rf"(?:{_CURRENCY})\s?\d|\d(?:[\d.,\s]*\d)?\s?(?:{_CURRENCY})|\b\d+[.,]\d{{2}}\b|\b\d+\s?%\s?off\b", re.IGNORECASE
)
_ACTION = re.compile(
    r"\b(?:buy|shop|order|get|try|download|subscribe|sign\s?up|join|book|learn\s+more|discover|call|visit|"
    r"start|register|install|apply|claim|save|see\s+more|watch|add\s+to\s+(?:cart|basket)|contact\s+us|"
    r"find\s+out|click|tap|swipe)\b",
    re.IGNORECASE,
)


def text_role(text: str | None) -> str | None:
    """ "price" (an amount with a currency, x.99, or "n% off"), "call_to_action" (an imperative
    like buy, shop, sign up, learn more), else None. A price wins over an action."""
    if not text:
        return None
    if _PRICE.search(text):
        return "price"
    if _ACTION.search(text):
        return "call_to_action"
    return None


class TextRecogniser:
    def __init__(self, model: Path, charset: Path, threads: int = 0) -> None:
        self.session = ort_session(model, threads)
        # Class 0 is the CTC blank; the last class is a space.
        self.chars = [line.rstrip("\n") for line in charset.read_text(encoding="utf-8").splitlines()] + [" "]
        self._input = self.session.get_inputs()[0].name
        self._lock = threading.Lock()

    def _crop(self, image: Image.Image, d: Detection) -> np.ndarray:
        pad = PAD * d.h
        box = (int(max(0, d.x - pad)), int(max(0, d.y - pad)))
        box2 = (int(min(image.width, d.x + d.w + pad)), int(min(image.height, d.y + d.h + pad)))
        crop = image.crop(box + box2)
        ratio = min(REC_MAX_RATIO, crop.width / max(1, crop.height))
        w = max(8, int(round(REC_HEIGHT * ratio)))
        arr = np.asarray(crop.convert("RGB").resize((w, REC_HEIGHT), Image.Resampling.BILINEAR), np.float32)
        out: np.ndarray = ((arr[:, :, ::-1] / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)  # BGR, [-1, 1]
        return out

    def read(self, image: Image.Image, lines: list[Detection]) -> list[tuple[str, float]]:
        """(text, mean character confidence) per line, in one padded batch."""
        if not lines:
            return []
        crops = [self._crop(image, d) for d in lines]
        width = max(REC_MIN_WIDTH, *(c.shape[2] for c in crops))
        batch = np.zeros((len(crops), 3, REC_HEIGHT, width), np.float32)
        for i, c in enumerate(crops):
            batch[i, :, :, : c.shape[2]] = c
        with self._lock:
            probs = self.session.run(None, {self._input: batch})[0]
        return [self._decode(p) for p in probs]

    def _decode(self, probs: np.ndarray) -> tuple[str, float]:
        """Greedy CTC: best class per step, repeats collapsed, blanks dropped."""
        best = probs.argmax(1)
        keep = (best != 0) & np.concatenate([[True], best[1:] != best[:-1]])
        idx = best[keep]
        text = "".join(self.chars[i - 1] for i in idx if 0 < i <= len(self.chars)).strip()
        conf = float(probs.max(1)[keep].mean()) if keep.any() else 0.0
        return text, conf

    def read_largest(self, image: Image.Image, lines: list[Detection]) -> list[Detection]:
        """The lines with the words of the MAX_READ_LINES largest filled in (order kept)."""
        chosen = sorted(range(len(lines)), key=lambda i: -lines[i].area)[:MAX_READ_LINES]
        out = list(lines)
        for i, (text, _conf) in zip(chosen, self.read(image, [lines[i] for i in chosen]), strict=True):
            out[i] = replace(lines[i], text=text or None)
        return out
