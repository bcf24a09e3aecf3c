"""Model input preparation in numpy + Pillow (no torch, no torchvision)."""

from __future__ import annotations

import numpy as np
from PIL import Image

RESMEM_RESIZE = 256
RESMEM_CROP = 227
SALIENCY_AREA = 384 * 512  # pixels the saliency backbone sees, whatever the image's shape
SALIENCY_STRIDE = 32  # the backbone's coarsest stride: both sides are multiples of it
SALIENCY_MAX_ASPECT = 4.0  # a wider (or taller) banner is squashed to 4:1 rather than starved of rows
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def resmem_input(image: Image.Image) -> np.ndarray:
    """Same as resmem's torchvision transform: Resize((256,256)), CenterCrop(227), ToTensor()."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")  # convert() would copy an RGB image
    resized = np.asarray(rgb.resize((RESMEM_RESIZE, RESMEM_RESIZE), Image.Resampling.BILINEAR))
    # torchvision rounds the crop offset with Python's round(): round(14.5) == 14.
    off = int(round((RESMEM_RESIZE - RESMEM_CROP) / 2.0))
    crop = resized[off : off + RESMEM_CROP, off : off + RESMEM_CROP].transpose(2, 0, 1)[None]
    out = np.ascontiguousarray(crop, dtype=np.float32)  # cropped before the float copy
    out /= np.float32(255.0)
    return out


def saliency_size(width: int, height: int, area: float = SALIENCY_AREA) -> tuple[int, int]:
    """(width, height) of the saliency input: the image's aspect ratio at about 384x512's area.

    A 4:3 image gets 512x384, a square one 448x448, a 9:16 story 320x576. Squashing every
    image to 4:3 (as before) stretched portrait ads and piled their saliency on the bottom edge.
    """
    aspect = min(max(width / max(height, 1), 1 / SALIENCY_MAX_ASPECT), SALIENCY_MAX_ASPECT)
    rows = (area / aspect) ** 0.5
    s = SALIENCY_STRIDE
    return max(s, round(rows * aspect / s) * s), max(s, round(rows / s) * s)


def saliency_input(image: Image.Image) -> np.ndarray:
    resized = image.convert("RGB").resize(saliency_size(*image.size), Image.Resampling.BILINEAR)
    arr = (np.asarray(resized, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])
