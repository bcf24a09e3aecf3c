"""The analysis engine: typed results for images (video follows the same shape)."""

from .batch import BatchResult, analyze_image, analyze_paths
from .image import ImageEngine, ImageOutcome
from .types import (
    AOI,
    AnalysisError,
    AttentionShare,
    ImageAnalysis,
    Keyframe,
    ModelInfo,
    Peak,
    TimelinePoint,
    VideoAnalysis,
    VideoAttentionShare,
)

__all__ = [
    "AOI",
    "AnalysisError",
    "AttentionShare",
    "BatchResult",
    "ImageAnalysis",
    "ImageEngine",
    "ImageOutcome",
    "Keyframe",
    "ModelInfo",
    "Peak",
    "TimelinePoint",
    "VideoAnalysis",
    "VideoAttentionShare",
    "analyze_image",
    "analyze_paths",
]
