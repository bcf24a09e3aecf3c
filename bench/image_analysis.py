"""One image's whole analysis through the real engine path, by stage, against a reference
workload run interleaved in the same process.

    .venv/bin/python bench/image_analysis.py [--nus 401 --count 40] [--osie 1601 --osie-count 20] [--rounds 2]
        [--compare-sequential] [--compare-threads 2]

Per photograph (NUS scene 401-440 and OSIE 1601-1620, the latter with people and signs):
decode (reported apart, not in the total), then what `ImageEngine.analyse` +
`write_image_outputs` do for an upload: memorability (preprocessing + ONNX, int8),
saliency (preprocessing + ONNX), element detectors (faces; text with reading), the rest of
analyse (density, attention shares, peaks, focus and clutter), and the heatmap (the
saliency and heatmap PNGs encoded and written). The engine runs memorability + faces + text
reading on a second thread beside saliency + text detection + measures, so stage times
overlap. Stage times are taken by wrapping the engine's own model objects, so the measured
path is the engine's.

The machine is shared, so absolute milliseconds move with other processes' load. Each
analysis is followed by a reference workload on the same decoded image: the saliency model
alone (the same session the engine uses). Both see the same contention, so
``image / reference`` is the stable figure; the quiet-machine image time is that ratio
times a quiet reference time. Other processes' CPU use during the run is measured from
/proc/stat (as bench/cloud_cost.py does: the load average would count this bench's own
threads).

Last line: ``image_ms=<a> memorability_ms=<b> saliency_ms=<c> detectors_ms=<d> heatmap_ms=<e>``
(medians over photographs and rounds; image_ms excludes decoding).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.engine.image import ImageEngine, lane_threads, write_image_outputs  # noqa: E402
from impactlens.media.image_io import DecodedImage, decode_image  # noqa: E402
from impactlens.models.detectors import load_detectors  # noqa: E402
from impactlens.models.runtime import MemorabilityModel, SaliencyModel  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

STAGES = ("memorability", "saliency", "detectors", "rest", "heatmap")


def machine_busy_s() -> float:
    """CPU seconds all processes have run so far (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class StageClock:
    """Wall time spent inside wrapped callables, per stage, for the current image."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = {}

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[stage] = self.spent.get(stage, 0.0) + time.perf_counter() - t

        return timed


def instrument(engine: ImageEngine, clock: StageClock) -> None:
    engine.memorability.predict = clock.wrap("memorability", engine.memorability.predict)  # type: ignore[method-assign]
    # A saliency model that reads the memorability pass makes the engine call this instead.
    mem = engine.memorability
    mem.predict_with_taps = clock.wrap("memorability", mem.predict_with_taps)  # type: ignore[method-assign]
    engine.saliency.predict = clock.wrap("saliency", engine.saliency.predict)  # type: ignore[method-assign]
    if engine.detectors is not None:
        det = engine.detectors
        det.faces.detect = clock.wrap("faces", det.faces.detect)  # type: ignore[method-assign]
        det.text.detect = clock.wrap("text", det.text.detect)  # type: ignore[method-assign]
        if det.reader is not None:
            det.reader.read_largest = clock.wrap("reading", det.reader.read_largest)  # type: ignore[method-assign]


def timed_analysis(
    engine: ImageEngine, clock: StageClock, decoded: DecodedImage, decode_s: float, out: Path, name: str
) -> dict[str, float]:
    """One upload's analysis and its PNGs; stage durations in seconds."""
    clock.spent = {}
    t = time.perf_counter()
    outcome = engine.analyse(decoded, [], name, decode_s)
    analysed = time.perf_counter()
    write_image_outputs(outcome, out, "bench")
    done = time.perf_counter()
    row = {k: clock.spent.get(k, 0.0) for k in ("memorability", "saliency", "faces", "text", "reading")}
    reading = row.pop("reading")  # text detection runs on the saliency lane, reading on the other
    lanes = (row["memorability"] + row["faces"] + reading, row["saliency"] + row["text"])
    row["text"] += reading
    row["detectors"] = row["faces"] + row["text"]
    models = max(lanes) if engine.parallel else sum(lanes)
    row["rest"] = max(0.0, (analysed - t) - models)
    row["heatmap"] = done - analysed
    row.update(image=done - t, decode=decode_s)
    return row


def photographs(args: argparse.Namespace) -> list[Path]:
    nus = args.data / "nus-scene" / "images"
    osie = args.data / "osie" / "images"
    paths = [nus / f"{i:03d}.jpg" for i in range(args.nus, args.nus + args.count)]
    paths += [osie / f"{i}.jpg" for i in range(args.osie, args.osie + args.osie_count)]
    return [p for p in paths if p.exists()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--nus", type=int, default=401)
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--osie", type=int, default=1601)
    ap.add_argument("--osie-count", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: settings)")
    ap.add_argument(
        "--compare-sequential", action="store_true", help="also time the stages one after another, alternated"
    )
    ap.add_argument(
        "--compare-threads",
        type=int,
        default=None,
        help="also time an engine whose sessions have this many threads each, alternated",
    )
    args = ap.parse_args()
    settings = get_settings()
    if args.threads is not None:
        settings = settings.model_copy(update={"threads": args.threads})
    engine = ImageEngine.from_settings(settings, "int8")
    engines = {"engine": engine}
    if args.compare_sequential:  # the same sessions, stages one after another
        engines["sequential"] = ImageEngine(
            engine.memorability, engine.saliency, settings.model_dir, engine.detectors, parallel=False
        )
    if args.compare_threads:  # the same engine with sessions of another size (new sessions)
        n = args.compare_threads
        spec_m, spec_s = engine.memorability.spec, engine.saliency.spec
        taps = engine.saliency.needs_memorability_taps
        mem = MemorabilityModel(spec_m, settings.model_dir, n, taps)
        engines[f"threads={n}"] = ImageEngine(
            mem,
            SaliencyModel(spec_s, settings.model_dir, n, mem if taps else None),
            settings.model_dir,
            load_detectors(settings.model_dir, n) if engine.detectors else None,
            parallel=True,
        )
    clock = StageClock()
    reference = engine.saliency.predict  # unwrapped: the reference workload
    instrument(engine, clock)  # the sequential engine shares these model objects
    paths = photographs(args)
    if not paths:
        sys.exit(f"no photographs under {args.data}")
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        warm = decode_image(paths[0], settings.max_image_pixels)
        for e in engines.values():
            write_image_outputs(e.analyse(warm, [], "warm"), out, "warm")
        reference(warm.image)
        busy0, own0, wall0 = machine_busy_s(), time.process_time(), time.perf_counter()
        for r in range(args.rounds):
            for i, p in enumerate(paths):
                t = time.perf_counter()
                decoded = decode_image(p, settings.max_image_pixels)
                decode_s = time.perf_counter() - t
                names = list(engines) if (i + r) % 2 == 0 else list(engines)[::-1]
                for name in names:
                    rows[name].append(timed_analysis(engines[name], clock, decoded, decode_s, out, p.name))
                t_ref = time.perf_counter()
                reference(decoded.image)
                ref_s = time.perf_counter() - t_ref
                for name in engines:
                    rows[name][-1]["reference"] = ref_s
        others = ((machine_busy_s() - busy0) - (time.process_time() - own0)) / (time.perf_counter() - wall0)

    def med(key: str, name: str = "engine") -> float:
        return 1000 * statistics.median(r[key] for r in rows[name])

    ratio = statistics.median(r["image"] / r["reference"] for r in rows["engine"])
    load = os.getloadavg()
    print(
        f"{len(paths)} photographs x {args.rounds} rounds, int8 memorability, saliency {engine.saliency.spec.name}, "
        f"detectors {'on' if engine.detectors else 'off'}, "
        f"{settings.threads or lane_threads()} ONNX Runtime thread(s) per session, {os.cpu_count()} cores"
    )
    print(
        f"machine: other processes used {others:.2f} cores on average during the run; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (counts this bench's threads too)"
    )
    print(
        "median ms per stage: "
        + ", ".join(f"{k} {med(k):.1f}" for k in STAGES)
        + f"; decode {med('decode'):.1f} (detectors = faces {med('faces'):.1f} + text {med('text'):.1f}; memorability"
        + ", faces and reading run beside saliency and text detection: 'rest' is the analysis time beyond the"
        + " longer of the two)"
    )
    print(f"median ms: image {med('image'):.1f} (decode excluded), reference (saliency alone) {med('reference'):.1f}")
    print(f"image / reference (same image, interleaved): median {ratio:.2f}")
    if "sequential" in rows:
        gain = statistics.median(
            s["image"] / p["image"] for p, s in zip(rows["engine"], rows["sequential"], strict=True)
        )
        print(
            f"stages one after another (same sessions, same images, alternated): image "
            f"{med('image', 'sequential'):.1f} ms; the engine's overlapped stages are {gain:.2f}x faster "
            "(median per image)"
        )
    for name in (k for k in rows if k.startswith("threads=")):
        gain = statistics.median(o["image"] / p["image"] for p, o in zip(rows["engine"], rows[name], strict=True))
        print(
            f"engine with {name} per session (same images, alternated): image {med('image', name):.1f} ms; "
            f"the product's ({settings.threads or lane_threads()} per session) "
            f"is {gain:.2f}x faster (median per image)"
        )
    print(
        f"image_ms={med('image'):.1f} memorability_ms={med('memorability'):.1f} saliency_ms={med('saliency'):.1f} "
        f"detectors_ms={med('detectors'):.1f} heatmap_ms={med('heatmap'):.1f}"
    )


if __name__ == "__main__":
    main()
