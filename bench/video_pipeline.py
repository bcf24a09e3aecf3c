"""Video pipeline benchmark: 60 s of 1080p30 H.264, in one run.

Prints, each against a reference taken in the same run:
- end-to-end wall time at the default settings and the realtime factor (video s / wall s);
- the fan-out alone (chunks already prepared) with 1 and with 2 single-threaded workers,
  and the same end to end;
- peak RSS of a fresh process analysing 60 s and 300 s of the same video;
- a naive baseline: every frame decoded at full resolution in one process, the models run
  on the sampled frames one by one;
- that the chunked result equals the unchunked one;
- what the chunk steps hand back (in the cloud the Step Functions Map's output, which must stay
  under 256 KB with everything else in the execution's state) and the bytes of the element
  detections the chunks keep in their result blobs.

Last line: ``realtime_factor=<x> speedup_2w=<y> rss_ratio=<z>``.
Run: .venv/bin/python bench/video_pipeline.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.engine.image import ImageEngine  # noqa: E402
from impactlens.pipeline import LocalVideoAnalyser, VideoRunner, video_payload  # noqa: E402
from impactlens.pipeline.chunks import dump_detections, load_result  # noqa: E402
from impactlens.pipeline.steps import StepContext, iter_prepare, probe_step  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

CACHE = ROOT / ".cache" / "bench"


def make_60s(path: Path) -> Path:
    """A busy synthetic 1080p30 clip: scrolling texture, moving bright boxes, changing text."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    texture = (rng.random((1080 // 8, 2 * 1920 // 8, 3)) * 200).astype(np.uint8)
    texture = np.asarray(Image.fromarray(texture).resize((2 * 1920, 1080), Image.Resampling.BILINEAR))
    tmp = path.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 1920, 1080, "yuv420p"
        s.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(60 * 30):
            off = (i * 6) % 1920
            frame = texture[:, off : off + 1920].copy()
            x = (i * 11) % 1700
            frame[300 + (i % 90) : 500 + (i % 90), x : x + 220] = 255
            frame[700:760, 100 + (i // 30) * 25 : 200 + (i // 30) * 25] = (255, 30, 30)
            for p in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    tmp.replace(path)
    return path


def repeat(src: Path, times: int, dest: Path) -> Path:
    """The clip ``times`` times back to back, by copying packets (no re-encode)."""
    if dest.exists():
        return dest
    tmp = dest.with_suffix(".tmp.mp4")
    with av.open(str(tmp), "w") as out:
        ostream = None
        offset = 0
        for _ in range(times):
            with av.open(str(src)) as inp:
                stream = inp.streams.video[0]
                if ostream is None:
                    ostream = out.add_stream_from_template(stream)
                assert stream.time_base is not None
                span = int(Fraction(60) / stream.time_base)
                for p in inp.demux(stream):
                    if p.dts is None or p.pts is None:
                        continue
                    p.pts, p.dts = p.pts + offset, p.dts + offset
                    p.stream = ostream
                    out.mux(p)
                offset += span
    tmp.replace(dest)
    return dest


def rss_run(video: Path) -> dict[str, float]:
    """Analyse in a fresh process; report the peak RSS of it and of its largest worker."""
    # The main process's peak is VmHWM (its own address space); ru_maxrss would also count
    # the pages this benchmark process had when it forked the child (Linux keeps that
    # high-water mark across exec). Workers are the largest children: RUSAGE_CHILDREN.
    code = (
        "import json, resource, sys, time\n"
        "from impactlens.pipeline import analyze_video\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1])\n"
        "if __name__ == '__main__':\n"
        "    t = time.perf_counter(); a = analyze_video(sys.argv[1])\n"
        "    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "    print(json.dumps({'wall': time.perf_counter() - t, 'main_mb': hwm() / 1024, 'worker_mb': kids / 1024,"
        " 'points': len(a.timeline)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(video)], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def fan_out_only(settings, video: Path, workers: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Chunks prepared first; then only the analysis of all chunks is timed (warm pool).
    Also weighs the chunk descriptors handed back and the detections kept in the result blobs."""
    with tempfile.TemporaryDirectory() as d:
        from impactlens.storage import LocalBlobStore

        blobs = LocalBlobStore(Path(d) / "b", signing_key=b"k" * 32)
        ctx = StepContext(blobs, settings, engine=lambda: None)  # type: ignore[arg-type,return-value]
        payload = probe_step(video_payload("b", {"path": str(video)}, "b", [], settings), ctx)
        chunks = list(iter_prepare(payload, ctx))
        with VideoRunner(settings, blobs, workers=workers) as runner:
            runner.warm_up()
            from impactlens.pipeline.local import _worker_analyse

            pool = runner.pool()
            t = time.perf_counter()
            futures = [pool.submit(_worker_analyse, {**payload, "chunk": c}, blobs) for c in chunks]
            done = [f.result()["chunk"] for f in futures]
            seconds = time.perf_counter() - t
        found = [load_result(blobs.read(c["result_key"])).detections or {} for c in done]
        return {
            "seconds": seconds,
            "chunks": len(done),
            "map_bytes": len(json.dumps(done).encode()),
            "max_chunk_bytes": max(len(json.dumps(c).encode()) for c in done),
            "instants": sum(len(f) for f in found),
            "detections": sum(len(d) for f in found for d in f.values()),
            "detection_bytes": sum(len(dump_detections(f)) for f in found),
        }


def naive(settings, video: Path) -> float:  # type: ignore[no-untyped-def]
    engine = ImageEngine.from_settings(settings)
    t = time.perf_counter()
    step = 1.0 / settings.video_sample_fps
    next_t = 0.0
    with av.open(str(video)) as c:
        for frame in c.decode(c.streams.video[0]):
            image = frame.to_image()  # type: ignore[no-untyped-call]  # full resolution, every frame
            if frame.time is not None and frame.time + 1e-9 >= next_t:
                engine.score_frame(image)
                next_t += step
    return time.perf_counter() - t


def main() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    settings = get_settings()
    v60 = make_60s(CACHE / "synthetic-1080p30-60s.mp4")
    v300 = repeat(v60, 5, CACHE / "synthetic-1080p30-300s.mp4")
    print(f"cores={os.cpu_count()} workers(default)={settings.workers} sample_fps={settings.video_sample_fps}")

    t = time.perf_counter()
    with LocalVideoAnalyser(settings) as va:
        chunked = va.analyse(v60)
    e2e = time.perf_counter() - t
    print(f"end-to-end (cold pool, default settings): {e2e:.2f} s, realtime factor {60 / e2e:.2f}")
    print(f"  steps: {json.dumps({k: round(v, 2) for k, v in chunked.timings_s.items()})}")

    e2e_w = {}
    for w in (1, 2):
        with LocalVideoAnalyser(settings, workers=w) as va:
            va.runner.warm_up()
            t = time.perf_counter()
            va.analyse(v60)
            e2e_w[w] = time.perf_counter() - t
    fans = {w: fan_out_only(settings, v60, w) for w in (1, 2)}
    fan = {w: f["seconds"] for w, f in fans.items()}
    print(f"fan-out only: 1 worker {fan[1]:.2f} s, 2 workers {fan[2]:.2f} s, speedup {fan[1] / fan[2]:.2f}")
    f2 = fans[2]
    longest = 60 * f2["max_chunk_bytes"]  # 600 s, the longest video allowed, is 60 chunks
    print(
        f"chunk payloads: {f2['chunks']:.0f} descriptors handed back = {f2['map_bytes']:.0f} B (largest"
        f" {f2['max_chunk_bytes']:.0f} B; 60 chunks of 600 s ~{longest:.0f} B);"
        f" detections kept in the result blobs: {f2['detections']:.0f} at {f2['instants']:.0f} instants,"
        f" {f2['detection_bytes']:.0f} B"
    )
    print(
        f"end to end (warm): 1 worker {e2e_w[1]:.2f} s, 2 workers {e2e_w[2]:.2f} s, speedup {e2e_w[1] / e2e_w[2]:.2f}"
    )

    base = naive(settings, v60)
    print(
        f"naive baseline (full-res decode of every frame, one process): {base:.2f} s; ours is {base / e2e:.2f}x faster"
    )

    with LocalVideoAnalyser(settings.model_copy(update={"video_chunk_seconds": 1000.0})) as va:
        whole = va.analyse(v60)
    same = [p.model_dump() for p in chunked.timeline] == [p.model_dump() for p in whole.timeline]
    diff = max(abs(a.memorability - b.memorability) for a, b in zip(chunked.timeline, whole.timeline, strict=True))
    print(f"chunked ({len(chunked.chunks)} chunks) == unchunked (1 chunk): {same} (max |diff| {diff:.2e})")

    r60, r300 = rss_run(v60), rss_run(v300)
    w = settings.workers
    peak60, peak300 = (r["main_mb"] + w * r["worker_mb"] for r in (r60, r300))
    for label, r, total in (("60 s", r60, peak60), ("300 s", r300, peak300)):
        print(
            f"peak RSS {label}: main {r['main_mb']:.0f} MB + {w} x worker {r['worker_mb']:.0f} MB"
            f" = {total:.0f} MB ({r['wall']:.1f} s wall)"
        )
    print(f"realtime_factor={60 / e2e:.2f} speedup_2w={fan[1] / fan[2]:.2f} rss_ratio={peak300 / peak60:.3f}")


if __name__ == "__main__":
    main()
