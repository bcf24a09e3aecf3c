"""Reference saliency models for the evaluation: a centre-bias Gaussian and a classical model."""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter, uniform_filter


def centre_bias(height: int, width: int, sigma_frac: float = 0.25) -> np.ndarray:
    """An anisotropic Gaussian at the image centre, sigma a fraction of each side."""
    ys = (np.arange(height) - (height - 1) / 2) / (sigma_frac * height)
    xs = (np.arange(width) - (width - 1) / 2) / (sigma_frac * width)
    return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2))


def spectral_residual(image: Image.Image, work_width: int = 64) -> np.ndarray:
    """Hou & Zhang, "Saliency detection: a spectral residual approach" (CVPR 2007).

    The log-amplitude spectrum minus its local average, with the original phase, transformed
    back, squared and blurred, at a working width of 64 px as in the paper; then resized.
    """
    w, h = image.size
    wh = max(1, round(h * work_width / w))
    gray = np.asarray(image.convert("L").resize((work_width, wh), Image.Resampling.BILINEAR), np.float64)
    spectrum = np.fft.fft2(gray)
    log_amp = np.log(np.abs(spectrum) + 1e-9)
    residual = log_amp - uniform_filter(log_amp, size=3, mode="nearest")
    recon = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    sal = gaussian_filter(recon, sigma=2.5)
    sal = (sal - sal.min()) / (np.ptp(sal) or 1.0)
    return np.asarray(Image.fromarray(sal.astype(np.float32), "F").resize((w, h), Image.Resampling.BILINEAR))
