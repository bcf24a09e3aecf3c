"""The video pipeline: probe -> prepare -> analyse chunks (fan-out) -> merge."""

from .local import VideoRunner
from .steps import (
    StepContext,
    analyse_chunk_step,
    cleanup_step,
    iter_prepare,
    merge_step,
    prepare_step,
    probe_step,
    video_options,
)
from .video import LocalVideoAnalyser, analyze_video, video_payload

__all__ = [
    "LocalVideoAnalyser",
    "StepContext",
    "VideoRunner",
    "analyse_chunk_step",
    "analyze_video",
    "cleanup_step",
    "iter_prepare",
    "merge_step",
    "prepare_step",
    "probe_step",
    "video_options",
    "video_payload",
]
