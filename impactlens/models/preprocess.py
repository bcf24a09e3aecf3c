"""Model input preparation in numpy + Pillow (no torch, no torchvision)."""

from __future__ import annotations

import numpy as np
from PIL import Image

RESMEM_RESIZE = 256
RESMEM_CROP = 227
SALIENCY_SIZE = (512, 384)  # (width, height) the saliency backbone sees
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


def resmem_input(image: Image.Image) -> np.ndarray:
    """Same as resmem's torchvision transform: Resize((256,256)), CenterCrop(227), ToTensor()."""
    resized = image.convert("RGB").resize((RESMEM_RESIZE, RESMEM_RESIZE), Image.Resampling.BILINEAR)
    arr = np.asarray(resized, dtype=np.float32) / 255.0
    # torchvision rounds the crop offset with Python's round(): round(14.5) == 14.
    off = int(round((RESMEM_RESIZE - RESMEM_CROP) / 2.0))
    crop = arr[off : off + RESMEM_CROP, off : off + RESMEM_CROP]
    return np.ascontiguousarray(crop.transpose(2, 0, 1)[None])


def saliency_input(image: Image.Image) -> np.ndarray:
    resized = image.convert("RGB").resize(SALIENCY_SIZE, Image.Resampling.BILINEAR)
    arr = (np.asarray(resized, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])
