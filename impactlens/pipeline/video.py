"""Analyse a video file on this machine: the pipeline steps on a temporary work store."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..engine.types import AOI, VideoAnalysis
from ..settings import Settings
from ..storage.base import BlobStore
from ..storage.local import LocalBlobStore
from .local import VideoRunner
from .steps import Payload, Progress, no_progress, video_options

OUT_PREFIX = "out"


def video_payload(job: str, source: dict[str, str], name: str, aois: Sequence[AOI], settings: Settings) -> Payload:
    return {
        "job": job,
        "source": source,
        "name": name,
        "work_prefix": f"work/{job}",
        "output_prefix": f"{OUT_PREFIX}/{job}",
        "options": video_options(settings),
        "aois": [a.model_dump() for a in aois],
    }


def export_outputs(blobs: BlobStore, prefix: str, analysis: VideoAnalysis, out_dir: Path, stem: str) -> Path:
    """Copies the pipeline's output blobs to out_dir as <stem>.*; the JSON, written last, names them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    renames = {name: f"{stem}.{name}" for name in analysis.outputs.values()}
    renames.update({k.thumbnail: f"{stem}.{k.thumbnail}" for k in analysis.keyframes})
    for src, dest in renames.items():
        target = out_dir / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as f:
            for part in blobs.get(f"{prefix}/{src}"):
                f.write(part)
        tmp.replace(target)
    analysis.outputs = {role: renames[name] for role, name in analysis.outputs.items()}
    for k in analysis.keyframes:
        k.thumbnail = renames[k.thumbnail]
    json_path = out_dir / f"{stem}.json"
    tmp = json_path.with_suffix(".json.tmp")
    tmp.write_text(analysis.model_dump_json(indent=2))
    tmp.replace(json_path)
    return json_path


class LocalVideoAnalyser:
    """Owns a scratch folder and a runner; analyse many videos, then close()."""

    def __init__(self, settings: Settings, workers: int | None = None) -> None:
        self.settings = settings
        self._dir = tempfile.mkdtemp(prefix="impactlens-video-")
        self.blobs = LocalBlobStore(Path(self._dir) / "blobs", signing_key=os.urandom(32))
        self.runner = VideoRunner(settings, self.blobs, workers, scratch=self._dir)
        self._n = 0

    def analyse(
        self,
        path: str | Path,
        aois: Sequence[AOI] = (),
        out_dir: str | Path | None = None,
        stem: str | None = None,
        progress: Progress = no_progress,
    ) -> VideoAnalysis:
        self._n += 1
        job = f"v{self._n:05d}"
        payload = video_payload(job, {"path": str(path)}, str(path), aois, self.settings)
        result = self.runner.run(payload, progress)
        analysis = VideoAnalysis.model_validate(result["result"])
        try:
            if out_dir is not None:
                export_outputs(self.blobs, payload["output_prefix"], analysis, Path(out_dir), stem or Path(path).stem)
        finally:
            for blob in list(self.blobs.list(payload["output_prefix"] + "/")):
                self.blobs.delete(blob.key)
        return analysis

    def close(self) -> None:
        self.runner.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> LocalVideoAnalyser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def analyze_video(
    path: str | Path,
    aois: Sequence[AOI] = (),
    *,
    out_dir: str | Path | None = None,
    settings: Settings | None = None,
    workers: int | None = None,
    progress: Progress = no_progress,
) -> VideoAnalysis:
    """Analyse one video; with out_dir, writes <stem>.json, .heatmap.mp4, .saliency.npz, keyframes."""
    from ..settings import get_settings

    with LocalVideoAnalyser(settings or get_settings(), workers) as analyser:
        return analyser.analyse(path, aois, out_dir, progress=progress)
