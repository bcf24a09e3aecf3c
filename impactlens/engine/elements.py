"""Automatic areas of interest (faces, text blocks) and the measures beside the map.

The engine's one surface for them; each role has its own module:
- map_measures.py: focus and clutter (their definitions) and their reference percentiles;
- element_detections.py: detections at one instant as named boxes (text lines grouped into blocks);
- element_tracks.py: video elements, detections followed across instants into tracks;
- here: auto_aois, the named boxes with their attention shares as results.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..models.detect_text_rec import text_role
from ..models.detectors import Detection
from .element_detections import MAX_FACES, MAX_TEXT_BLOCKS, element_boxes, text_blocks
from .element_tracks import DETECT_FPS, MAX_DETECT_INSTANTS, TRACK_IOU, detection_instants, track_elements
from .map_measures import (
    CLUTTER_FEATURES,
    CLUTTER_SCALES,
    CLUTTER_SIDE,
    CLUTTER_SIGMA,
    Measures,
    clutter_features,
    clutter_from_features,
    element_reference,
    focus,
    measures,
    reference_percentile,
)
from .types import AOI, AttentionShare, AutoAOI, VideoAttentionShare

__all__ = [
    "CLUTTER_FEATURES",
    "CLUTTER_SCALES",
    "CLUTTER_SIDE",
    "CLUTTER_SIGMA",
    "DETECT_FPS",
    "MAX_DETECT_INSTANTS",
    "MAX_FACES",
    "MAX_TEXT_BLOCKS",
    "TRACK_IOU",
    "Measures",
    "auto_aois",
    "clutter_features",
    "clutter_from_features",
    "detection_instants",
    "element_boxes",
    "element_reference",
    "focus",
    "measures",
    "reference_percentile",
    "text_blocks",
    "track_elements",
]


def auto_aois(
    named: Sequence[tuple[AOI, Detection]], shares: Sequence[AttentionShare | VideoAttentionShare]
) -> list[AutoAOI]:
    return [
        AutoAOI(
            name=a.name,
            kind=d.kind,
            x=a.x,
            y=a.y,
            w=a.w,
            h=a.h,
            start_s=a.start_s,
            end_s=a.end_s,
            track=list(a.track) if a.track else None,
            confidence=d.confidence,
            text=d.text,
            role=text_role(d.text) if d.kind == "text" else None,
            attention=s,
        )
        for (a, d), s in zip(named, shares, strict=True)
    ]
