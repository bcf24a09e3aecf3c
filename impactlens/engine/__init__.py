"""The analysis engine: typed results for images (video follows the same shape)."""

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
    "ImageAnalysis",
    "ImageEngine",
    "ImageOutcome",
    "Keyframe",
    "ModelInfo",
    "Peak",
    "TimelinePoint",
    "VideoAnalysis",
    "VideoAttentionShare",
]
