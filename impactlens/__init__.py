"""impactlens: predict how memorable visual content is and where attention goes."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["AOI", "ImageAnalysis", "__version__", "analyze_image", "analyze_paths"]


def __getattr__(name: str) -> Any:
    # Lazy (PEP 562): importing any impactlens module must not load ONNX Runtime, so the API
    # and aggregates functions start without it (tests/test_deploy.py checks sys.modules).
    if name in ("AOI", "ImageAnalysis"):
        from . import engine

        return getattr(engine, name)
    if name in ("analyze_image", "analyze_paths"):
        # The batch front door sits above both the image engine and the video pipeline.
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'impactlens' has no attribute {name!r}")
