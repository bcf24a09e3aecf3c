"""impactlens: predict how memorable visual content is and where attention goes."""

from .engine import AOI, ImageAnalysis, analyze_image, analyze_paths

__version__ = "0.1.0"
__all__ = ["AOI", "ImageAnalysis", "__version__", "analyze_image", "analyze_paths"]
