"""The image engine: decoded image in, memorability + saliency + attention shares out."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image
from scipy.ndimage import maximum_filter

from ..errors import ConfigurationError
from ..media.heatmap import Density, render_pngs
from ..media.image_io import DecodedImage
from ..models.detectors import FACE_MODEL, TEXT_MODEL, Detection, ElementDetectors, load_detectors
from ..models.registry import ModelSpec, get_spec, read_manifest
from ..models.runtime import MemorabilityModel, SaliencyModel, load_memorability, load_saliency
from ..settings import Settings
from .elements import auto_aois, element_boxes, measures
from .types import AOI, AttentionShare, ImageAnalysis, ModelInfo, Peak

MAX_PEAKS = 5
T = TypeVar("T")


@lru_cache(maxsize=1)
def reference_scores() -> np.ndarray:
    """Sorted ResMem fp32 scores of the 500 NUS scene photographs (see the README)."""
    path = resources.files("impactlens") / "models" / "weights" / "memorability_reference.json"
    return np.array(json.loads(path.read_text())["scores"], np.float64)


def percentile_of(score: float) -> float:
    ref = reference_scores()
    # Mid-rank percentile: the share of reference photographs scoring below, ties half.
    below = np.searchsorted(ref, score, side="left")
    at_or_below = np.searchsorted(ref, score, side="right")
    return float(100.0 * (below + at_or_below) / (2 * len(ref)))


def attention_shares(density: np.ndarray | Density, aois: list[AOI]) -> list[AttentionShare]:
    h, w = density.shape
    out = []
    for a in aois:
        x0, y0 = max(0, int(round(a.x))), max(0, int(round(a.y)))
        x1, y1 = min(w, int(round(a.x + a.w))), min(h, int(round(a.y + a.h)))
        if isinstance(density, Density):
            share = density.region_sum(x0, y0, x1, y1)
        else:
            share = float(density[y0:y1, x0:x1].sum(dtype=np.float64)) if x1 > x0 and y1 > y0 else 0.0
        area = max(0, x1 - x0) * max(0, y1 - y0) / float(w * h)
        out.append(AttentionShare(name=a.name, share=share, area_fraction=area, lift=share / area if area else 0.0))
    return out


def saliency_peaks(grid: np.ndarray, width: int, height: int, k: int = MAX_PEAKS) -> list[Peak]:
    """Local maxima of the model's grid (3x3 neighbourhood), strongest first, in image pixels."""
    gh, gw = grid.shape
    local = (grid == maximum_filter(grid, size=3, mode="nearest")) & (grid > 0)
    ys, xs = np.nonzero(local)
    order = np.argsort(-grid[ys, xs])[:k]
    top = float(grid.max()) or 1.0
    return [
        Peak(
            x=(xs[i] + 0.5) * width / gw,
            y=(ys[i] + 0.5) * height / gh,
            relative_density=float(grid[ys[i], xs[i]] / top),
        )
        for i in order
    ]


def model_info(spec: ModelSpec, manifest: dict[str, dict[str, str]]) -> ModelInfo:
    return ModelInfo(
        name=spec.name,
        version=spec.version,
        variant=spec.variant,
        sha256=manifest.get(spec.filename, {}).get("sha256"),
        licence=spec.licence,
        card_url=spec.card_url,
    )


def model_infos(settings: Settings) -> dict[str, ModelInfo]:
    """What a result records about the models, without loading them."""
    manifest = read_manifest(settings.model_dir)
    infos = {
        "memorability": model_info(get_spec(settings.memorability_model, settings.variant), manifest),
        "saliency": model_info(get_spec(settings.saliency_model, settings.variant), manifest),
    }
    if settings.detect_elements:
        infos["faces"] = model_info(get_spec(FACE_MODEL, "fp32"), manifest)
        infos["text"] = model_info(get_spec(TEXT_MODEL, "fp32"), manifest)
    return infos


@dataclass
class ImageOutcome:
    analysis: ImageAnalysis
    density: Density  # at the image's full size, sums to 1 (computed in strips)
    image: Image.Image  # what the models saw: long side at most image_io.WORK_LONG_SIDE
    grid: np.ndarray | None = None  # the model's grid, kept to recompute AOI shares later
    full_image: Callable[[], Image.Image] | None = None  # the full-size picture, decoded on demand


def lane_threads() -> int:
    """ONNX Runtime threads per session when the settings leave it to us (threads = 0).

    The engine runs two lanes at once (memorability + faces beside saliency + text), so each
    session gets half the cores: a session with all of them shares them with the other lane's
    and waits at every parallel section for the thread the other lane holds up. A whole
    analysis with its PNGs on the otherwise idle 2-core machine (OSIE 1601-1630, 800x600,
    alternated in one process): 171 ms with one thread per session, 222 ms with two."""
    return max(1, (os.cpu_count() or 2) // 2)


def _done(fn: Callable[..., T], *args: object) -> Future[T]:
    """fn(*args) run now, as a finished future (the engine without a second lane)."""
    out: Future[T] = Future()
    out.set_result(fn(*args))
    return out


def _to_full_size(found: list[Detection], decoded: DecodedImage) -> list[Detection]:
    """Detections on the working picture, in the full picture's pixels."""
    sx, sy = decoded.width / decoded.image.width, decoded.height / decoded.image.height
    if (sx, sy) == (1.0, 1.0):
        return found
    return [dataclasses.replace(d, x=d.x * sx, y=d.y * sy, w=d.w * sx, h=d.h * sy) for d in found]


class ImageEngine:
    """Holds the loaded models; thread-safe, cheap to call many times."""

    def __init__(
        self,
        memorability: MemorabilityModel,
        saliency: SaliencyModel,
        model_dir: Path,
        detectors: ElementDetectors | None = None,
        parallel: bool = False,
    ) -> None:
        if saliency.needs_memorability_taps and not set(saliency.tap_inputs.values()) <= set(memorability.tap_names):
            raise ConfigurationError(
                f"saliency model {saliency.spec.name} reads the activations of the ResMem memorability pass, "
                f"which this {memorability.spec.name} session does not hand out: use ResMem as the memorability "
                "model (ImageEngine.from_settings loads it so), or set IMPACTLENS_SALIENCY_MODEL=lite1-readout"
            )
        self.memorability = memorability
        self.saliency = saliency
        self.detectors = detectors
        # With parallel, memorability, face detection and text reading run on a second thread
        # while this one runs saliency, text detection and the measures: halves of roughly equal
        # cost (1-thread CPU ms on 800x600 photos, int8 saliency: 111 + 20 + 8 vs 38 + 75 + 18).
        # from_settings gives each session half the cores (lane_threads). On the otherwise idle
        # 2-core machine an analysis with its PNGs took 2.07x less time than one stage after
        # another on the same sessions (bench/image_analysis.py --compare-sequential).
        self.parallel = parallel
        self._lane = ThreadPoolExecutor(2, thread_name_prefix="analyse") if parallel else None
        manifest = read_manifest(model_dir)
        self.models = {
            "memorability": model_info(memorability.spec, manifest),
            "saliency": model_info(saliency.spec, manifest),
        }
        if detectors is not None:
            self.models["faces"] = model_info(get_spec(FACE_MODEL, "fp32"), manifest)
            self.models["text"] = model_info(get_spec(TEXT_MODEL, "fp32"), manifest)

    @classmethod
    def from_settings(cls, settings: Settings, variant: str | None = None) -> ImageEngine:
        v = variant or settings.variant
        threads = settings.threads or lane_threads()
        sal = load_saliency(settings.saliency_model, v, settings.model_dir, threads)
        mem = load_memorability(
            settings.memorability_model, v, settings.model_dir, threads, taps=sal.needs_memorability_taps
        )
        det = load_detectors(settings.model_dir, threads) if settings.detect_elements else None
        # threads = 1 asks for one thread, e.g. the video pool's workers, one per core: a second
        # lane there puts two busy threads per worker on each core (bench/video_pipeline.py:
        # 2 workers 1.37x one worker with lanes, 2.0x without).
        return cls(mem, sal, settings.model_dir, det, parallel=settings.threads != 1)

    def score_frame(self, image: Image.Image) -> tuple[float, np.ndarray]:
        """(memorability clipped to [0, 1], saliency grid summing to 1) for one video frame."""
        if self.saliency.needs_memorability_taps:  # saliency reads the memorability pass
            score, taps, _ = self.memorability.predict_with_taps(image)
            grid, _ = self.saliency.predict(image, taps)
            return min(1.0, max(0.0, score)), grid
        other = self._lane.submit(self.memorability.predict, image) if self._lane else None
        grid, _ = self.saliency.predict(image)
        score, _ = other.result() if other else self.memorability.predict(image)
        return min(1.0, max(0.0, score)), grid

    def _second_lane(
        self, image: Image.Image, found: Future[list[Detection]], taps: Future[dict[str, np.ndarray]]
    ) -> tuple[float, float, list[Detection], list[Detection], float]:
        """Memorability (handing its activations to ``taps`` for a saliency model that reads
        them), faces, then reading the text lines the first lane found:
        (score, memorability seconds, faces, lines, face detection + reading seconds)."""
        try:
            if self.saliency.needs_memorability_taps:
                score, mem_taps, mem_s = self.memorability.predict_with_taps(image)
            else:
                (score, mem_s), mem_taps = self.memorability.predict(image), {}
        except BaseException as exc:
            taps.set_exception(exc)  # never leave the first lane waiting
            raise
        taps.set_result(mem_taps)
        t = time.perf_counter()
        faces = self.detectors.faces.detect(image) if self.detectors else []
        detect_s = time.perf_counter() - t
        lines = found.result()
        t = time.perf_counter()
        if self.detectors is not None and self.detectors.reader is not None and lines:
            lines = self.detectors.reader.read_largest(image, lines)
        return score, mem_s, faces, lines, detect_s + time.perf_counter() - t

    def _detect_text(self, image: Image.Image, found: Future[list[Detection]]) -> float:
        t = time.perf_counter()
        found.set_result(self.detectors.text.detect(image) if self.detectors else [])
        return time.perf_counter() - t

    def analyse(self, decoded: DecodedImage, aois: list[AOI], source: str, decode_s: float = 0.0) -> ImageOutcome:
        t0 = time.perf_counter()
        # Reading the text runs on the second lane, after memorability and faces: the saliency
        # lane (saliency, text detection, measures) was the longer one.
        # A saliency model that reads the memorability pass waits for it: text detection runs first.
        found: Future[list[Detection]] = Future()
        taps: Future[dict[str, np.ndarray]] = Future()
        image = decoded.image
        other = self._lane.submit(self._second_lane, image, found, taps) if self._lane else None
        try:
            text_s = 0.0
            if self.saliency.needs_memorability_taps:
                text_s = self._detect_text(image, found)
                other = other or _done(self._second_lane, image, found, taps)
            grid, sal_s = self.saliency.predict(image, taps.result() if self.saliency.needs_memorability_taps else None)
            t1 = time.perf_counter()
            density = Density(grid, decoded.width, decoded.height)
            post_s = time.perf_counter() - t1
            if not found.done():
                text_s = self._detect_text(image, found)
        except BaseException as exc:
            if not found.done():
                found.set_exception(exc)  # never leave the second lane waiting
            raise
        t2b = time.perf_counter()
        extra = measures(grid, image, self.saliency.spec.name)
        measures_s = time.perf_counter() - t2b
        score, mem_s, faces, lines, faces_s = (other or _done(self._second_lane, image, found, taps)).result()
        named = element_boxes(_to_full_size(faces + lines, decoded))
        t3 = time.perf_counter()
        analysis = ImageAnalysis(
            source=source,
            width=decoded.width,
            height=decoded.height,
            format=decoded.format,
            memorability=min(1.0, max(0.0, score)),
            memorability_percentile=percentile_of(score),
            attention=attention_shares(density, aois),
            saliency_peaks=saliency_peaks(grid, decoded.width, decoded.height),
            models=self.models,
            timings_s={
                "decode": decode_s,
                "memorability": mem_s,
                "saliency": sal_s,
                "postprocess": post_s,
            },
            warnings=list(decoded.warnings),
            auto_aois=auto_aois(named, attention_shares(density, [a for a, _ in named])),
            **extra,
        )
        analysis.timings_s["detect"] = faces_s + text_s
        analysis.timings_s["measures"] = measures_s + (time.perf_counter() - t3)
        analysis.timings_s["total"] = decode_s + (time.perf_counter() - t0)
        return ImageOutcome(analysis, density, decoded.image, grid, decoded.full_image)


def write_image_outputs(outcome: ImageOutcome, out_dir: Path, stem: str) -> dict[str, Path]:
    """Writes <stem>.saliency.png, <stem>.heatmap.png and <stem>.json, each atomically."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "saliency": out_dir / f"{stem}.saliency.png",
        "heatmap": out_dir / f"{stem}.heatmap.png",
        "json": out_dir / f"{stem}.json",
    }
    t = time.perf_counter()
    for name, png in render_pngs(outcome.full_image or (lambda: outcome.image), outcome.density):
        tmp = paths[name].with_name(paths[name].name + ".tmp")
        tmp.write_bytes(png)
        tmp.replace(paths[name])
    a = outcome.analysis
    a.outputs = {k: p.name for k, p in paths.items() if k != "json"}
    a.timings_s["render"] = time.perf_counter() - t
    tmp = paths["json"].with_suffix(".json.tmp")
    tmp.write_text(a.model_dump_json(indent=2))
    tmp.replace(paths["json"])
    return paths
