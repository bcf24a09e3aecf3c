"""Analyse many inputs, images and videos mixed; one bad file never stops the others."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from .engine.image import ImageEngine, write_image_outputs
from .engine.types import AOI, AnalysisError, ImageAnalysis, VideoAnalysis
from .errors import ImpactLensError, MediaError
from .media.image_io import decode_image
from .media.sniff import detect_kind
from .settings import Settings, get_settings


@dataclass
class BatchResult:
    results: list[ImageAnalysis | VideoAnalysis] = field(default_factory=list)
    errors: list[AnalysisError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _unique_stems(paths: Sequence[Path]) -> list[str]:
    """Output names from the file stems; a stem seen twice gets a numeric suffix."""
    seen: dict[str, int] = {}
    stems = []
    for p in paths:
        n = seen.get(p.stem, 0)
        seen[p.stem] = n + 1
        stems.append(p.stem if n == 0 else f"{p.stem}-{n + 1}")
    return stems


def analyze_image(
    path: str | Path,
    aois: Sequence[AOI] = (),
    *,
    engine: ImageEngine | None = None,
    settings: Settings | None = None,
    variant: str | None = None,
) -> ImageAnalysis:
    """Analyse one image and return the typed result (no files written)."""
    s = settings or get_settings()
    eng = engine or ImageEngine.from_settings(s, variant)
    t = time.perf_counter()
    decoded = decode_image(Path(path), s.max_image_pixels)
    return eng.analyse(decoded, list(aois), str(path), time.perf_counter() - t).analysis


def analyze_paths(
    paths: Sequence[str | Path],
    out_dir: str | Path,
    aois: Sequence[AOI] = (),
    *,
    variant: str | None = None,
    settings: Settings | None = None,
    progress: bool | None = None,
) -> BatchResult:
    """Analyse each input, writing results into out_dir.

    Images: <stem>.json / .saliency.png / .heatmap.png. Videos: <stem>.json / .heatmap.mp4 /
    .saliency.npz / .keyframes/. Whether a file is an image or a video is decided by content.
    """
    from .pipeline.progress import StepBars
    from .pipeline.video import LocalVideoAnalyser

    s = settings or get_settings()
    if variant:
        s = s.model_copy(update={"variant": variant})
    files = [Path(p) for p in paths]
    out = Path(out_dir)
    engine = ImageEngine.from_settings(s)
    videos: LocalVideoAnalyser | None = None
    batch = BatchResult()
    show = len(files) > 1 if progress is None else progress
    bar = tqdm(list(zip(files, _unique_stems(files), strict=True)), disable=not show, unit="file", file=sys.stderr)
    try:
        for path, stem in bar:
            bar.set_postfix_str(path.name[:40])
            try:
                t = time.perf_counter()
                if not path.is_file():
                    raise MediaError(f"no such file: {path}", "not_found")
                kind, notes = detect_kind(path)
                if kind == "video":
                    videos = videos or LocalVideoAnalyser(s)
                    steps = StepBars(path.name, enabled=progress is not False and sys.stderr.isatty())
                    try:
                        batch.results.append(videos.analyse(path, aois, out, stem, steps))
                    finally:
                        steps.close()
                    continue
                decoded = decode_image(path, s.max_image_pixels)
                decoded.warnings.extend(notes)
                outcome = engine.analyse(decoded, list(aois), str(path), time.perf_counter() - t)
                write_image_outputs(outcome, out, stem)
                batch.results.append(outcome.analysis)
            except ImpactLensError as exc:
                batch.errors.append(AnalysisError(source=str(path), code=exc.code, message=exc.message))
            except (OSError, ValueError) as exc:
                batch.errors.append(AnalysisError(source=str(path), code="analysis_failed", message=str(exc)))
    finally:
        if videos is not None:
            videos.close()
    return batch
