"""Right-sizing the job runner and what an analysis costs on AWS, from work measured here.

Measures, in this process, the jobs function's real work (pipeline code, the real models):
- one image job's analysis (decode, models, saliency and heatmap PNGs written to a blob store)
  with 1 and with 2 ONNX Runtime threads, alternated round by round, best round of each;
- one 60-s 1080p30 video analysed in process on 1 thread (``VideoRunner(workers=0)``, what
  JobsFunction runs for videos under ``sfn_min_video_seconds``), split into the models' part
  and the serial rest (decode, prepare, render, merge), by process CPU time.
Thread counts match Lambda's vCPUs: 2,048 MB = 1.17 vCPU -> 1 thread, 4,096 MB = 2.3 vCPU ->
2 threads, 10,240 MB = 5.8 vCPU -> 6 threads. This machine has 2 cores (shared: the cores
other processes used during the 1-vs-2 comparison are measured, from /proc/stat, and above a
tenth of the machine the scaling is bounded instead of fitted), so 6 threads are extrapolated
with Amdahl's law fitted to the measured 1->2 speed-up of the models (an optimistic bound: ONNX
Runtime's scaling flattens past a few threads), and the video's model part is scaled by that
same law. Absolute times
are this machine's; Lambda's cores differ by an unknown factor, so read the table as ratios
between sizes, converted to dollars at one speed.

Prices: us-east-1, x86, on-demand, as published on the pages below, read 2026-12-01:
- Lambda, https://aws.amazon.com/lambda/pricing/: $0.0000166667 per GB-second, $0.20 per
  million requests, ephemeral storage above 512 MB $0.0000000309 per GB-second.
- Step Functions Standard, https://aws.amazon.com/step-functions/pricing/: $0.025 per 1,000
  state transitions (retries count).
- S3 Standard, https://aws.amazon.com/s3/pricing/: PUT $0.005 per 1,000, GET $0.0004 per 1,000.
- DynamoDB on-demand (since the 2024-11-01 reduction), https://aws.amazon.com/dynamodb/pricing/on-demand/:
  $0.625 per million write request units, $0.125 per million read request units.
Free tiers are ignored (a cost at scale). Request and item counts per job are read off the code
path (listed in REQUESTS below), not measured.

Last line: ``usd_per_1000_images=<a> usd_per_video_hour=<b>`` at the chosen sizes.
Run: .venv/bin/python bench/cloud_cost.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from video_pipeline import CACHE, make_60s  # noqa: E402

from impactlens.engine.image import ImageEngine  # noqa: E402
from impactlens.jobs.analysis import analyse_image_asset, source_key  # noqa: E402
from impactlens.pipeline import VideoRunner, video_payload  # noqa: E402
from impactlens.services import embedded_services  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

LAMBDA_GB_S = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
TMP_GB_S = 0.0000000309  # per GB-second of /tmp above 512 MB
SFN_TRANSITION = 0.025 / 1000
S3_PUT, S3_GET = 0.005 / 1000, 0.0004 / 1000
DDB_WRU, DDB_RRU = 0.625 / 1e6, 0.125 / 1e6

SIZES = {2048: 1, 4096: 2, 10240: 6}  # MB -> ONNX Runtime threads (vCPUs 1.17, 2.3, 5.8)
TMP_MB = {"jobs": 3072, "steps": 3072, "chunk": 512}
VIDEO_GOAL_S = 15.0  # 60 s of video analysed in <= 15 s (4x realtime), README's video goal
# Per job, from the code path: writes (a GSI write counts again; a transaction counts double),
# reads, S3 PUTs and GETs. Image: claim, processing, result (+best AOI), scores, finish, usage,
# aggregates transaction (3 aggregates + marker) and ~1 lease renewal a second of work.
REQUESTS = {
    "image": {"wru": 24, "rru": 8, "put": 4, "get": 1},
    # Video, per minute of video: the same job records, 6 chunks (frames, result, segment
    # written and read), 6 segment items, heatmap video, keyframes, saliency, analysis.
    "video_minute": {"wru": 40, "rru": 12, "put": 30, "get": 25},
}
CHUNK_S = 30.0  # Settings.sfn_chunk_seconds


class ImageWork:
    """One image job's analysis (decode, models, saliency and heatmap PNGs to a blob store)
    with an engine of ``threads`` ONNX Runtime threads."""

    def __init__(self, threads: int, images: list[bytes], root: Path) -> None:
        settings = get_settings().model_copy(update={"threads": threads, "data_dir": root / f"t{threads}"})
        self.engine = ImageEngine.from_settings(settings)
        self.services = embedded_services(settings)
        self.n = len(images)
        for i, data in enumerate(images):
            self.services.blobs.put(source_key("o", f"a{i}"), data, "image/jpeg")
        self.run_once()  # sessions warmed

    def run_once(self) -> tuple[float, float]:
        """(wall, process CPU) seconds per image for one pass over the images."""
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(self.n):
            asset = {"org": "o", "asset": f"a{i}", "aois": [], "name": "x"}
            analyse_image_asset(self.services, self.engine, asset, f"out/{i}")
        return (time.perf_counter() - wall) / self.n, (time.process_time() - cpu) / self.n


def machine_busy_s() -> float:
    """CPU seconds all processes have run so far (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def image_times(images: list[bytes], rounds: int = 4) -> dict[str, float]:
    """1 and 2 threads alternated round by round, best round of each (the machine is shared:
    a busy moment lengthens some rounds); also the CPU time of the 1-thread pass, which other
    processes do not inflate, and ``others``: how many cores other processes kept busy on
    average meanwhile (the load average would count this bench's own threads too)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = {n: ImageWork(n, images, Path(tmp)) for n in (1, 2)}
        best = {"wall1": float("inf"), "wall2": float("inf"), "cpu1": float("inf")}
        busy0, own0, wall0 = machine_busy_s(), time.process_time(), time.perf_counter()
        for _ in range(rounds):
            for n, w in work.items():
                wall, cpu = w.run_once()
                best[f"wall{n}"] = min(best[f"wall{n}"], wall)
                if n == 1:
                    best["cpu1"] = min(best["cpu1"], cpu)
        others = (machine_busy_s() - busy0) - (time.process_time() - own0)
        best["others"] = max(0.0, others) / (time.perf_counter() - wall0)
        for w in work.values():
            w.services.close()
    return best


def video_parts(video: Path) -> dict[str, float]:
    """The in-process video path on one thread. Wall time on a shared machine is inflated by
    other processes; process CPU time is not (on one ONNX thread it is close to the quiet
    wall time; codec threads make it a slight overestimate)."""
    settings = get_settings().model_copy(update={"threads": 1, "workers": 0})
    with tempfile.TemporaryDirectory() as tmp:
        from impactlens.storage.local import LocalBlobStore

        blobs = LocalBlobStore(Path(tmp) / "blobs", b"k" * 32)
        with VideoRunner(settings, blobs, workers=0) as runner:
            runner.engine()  # model load is a cold start, priced separately
            payload = video_payload("t1", {"path": str(video)}, "v", [], settings)
            wall, cpu = time.perf_counter(), time.process_time()
            result = runner.run(payload)["result"]
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    analyse = float(result["timings_s"]["analyse_cpu"])  # wall seconds inside the chunk step
    share = analyse / wall  # the models' share of the run, applied to the CPU time
    chunks = float(len(result["chunks"]))
    return {"wall": wall, "cpu": cpu, "analyse": cpu * share, "rest": cpu * (1 - share), "chunks": chunks}


def lambda_cost(mb: int, seconds: float, tmp_mb: int) -> float:
    gb = mb / 1024
    return gb * seconds * LAMBDA_GB_S + LAMBDA_REQUEST + max(0, tmp_mb - 512) / 1024 * seconds * TMP_GB_S


def storage_cost(counts: dict[str, int]) -> float:
    return counts["wru"] * DDB_WRU + counts["rru"] * DDB_RRU + counts["put"] * S3_PUT + counts["get"] * S3_GET


def main() -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    video = make_60s(CACHE / "synthetic-1080p30-60s.mp4")
    images = [p.read_bytes() for p in sorted((ROOT / "impactlens" / "data" / "samples").glob("*.jpg"))]
    cores = os.cpu_count() or 1
    load0 = os.getloadavg()[0]
    img = image_times(images)
    v = video_parts(video)
    load1 = os.getloadavg()[0]
    print(f"load average {load0:.1f} at start, {load1:.1f} at end, on {cores} cores")
    print(f"image job, 1 thread: {img['cpu1']:.3f} s CPU ({img['wall1']:.3f} s wall); "
          f"2 threads: {img['wall2']:.3f} s wall; other processes meanwhile: {img['others']:.2f} cores")
    print(f"60-s video, 1 thread: {v['cpu']:.1f} s CPU ({v['wall']:.1f} s wall): models {v['analyse']:.1f} s, "
          f"decode/prepare/render/merge {v['rest']:.1f} s; {v['chunks']:.0f} chunks")
    busy = img["others"] > 0.1 * cores
    if busy:
        print("the machine is busy: the 2-thread wall time measures contention, not scaling, so the")
        print("models' parallel share p is bounded instead: p=0 (threads do not help) and p=1 (ideal)")
        shares = {"p=0": 0.0, "p=1": 1.0}
    else:
        p = min(1.0, max(0.0, 2.0 * (1.0 - img["wall2"] / img["wall1"])))
        print(f"1->2 threads: {img['wall1'] / img['wall2']:.2f}x, models' parallel share p={p:.2f}")
        shares = {f"p={p:.2f}": p}

    head = "| JobsFunction | threads | p | s / image | 60-s video | <= 15 s | $ / 1000 images | $ / video h |"
    print("\n" + head)
    print("|---|---|---|---|---|---|---|---|")
    rows = []
    for label, p in shares.items():
        for mb, n in SIZES.items():
            scale = (1 - p) + p / n
            image_s = img["cpu1"] * scale  # an image job is nearly all model time
            wall = v["analyse"] * scale + v["rest"]  # decoding, rendering and merging are serial
            image_usd = 1000 * (lambda_cost(mb, image_s, TMP_MB["jobs"]) + storage_cost(REQUESTS["image"]))
            # A video hour in process: 60 one-minute jobs.
            video_usd = 60 * (lambda_cost(mb, wall, TMP_MB["jobs"]) + storage_cost(REQUESTS["video_minute"]))
            ok = wall <= VIDEO_GOAL_S
            rows.append({"mb": mb, "p": label, "image_usd": image_usd, "video_usd": video_usd, "ok": ok})
            print(f"| {mb} MB | {n} | {label} | {image_s:.3f} | {wall:.1f} s | {'yes' if ok else 'no'} | "
                  f"{image_usd:.4f} | {video_usd:.4f} |")
    # Per image, n threads cost GB(n) * T1 * ((1-p) + p/n): 6 threads on 10 GB beat 1 thread on
    # 2 GB only if p is above the break-even below; ONNX Runtime's CNNs scale well short of it.
    even = (1 - 2.0 / 10.0) / (1 - 1 / 6)
    chosen = min((r for r in rows if r["mb"] == 2048), key=lambda r: r["image_usd"])
    per_video_s = (v["analyse"] + v["rest"]) / 60.0
    threshold = VIDEO_GOAL_S / per_video_s
    print(f"\nJobsFunction: 2048 MB, 1 thread: cheapest per image unless the models' parallel share on 6 "
          f"threads exceeds {even:.2f}. In process it needs {per_video_s:.2f} s per video second, so videos up "
          f"to {threshold:.0f} s meet the 15-s goal; longer ones go to the state machine "
          f"(IMPACTLENS_SFN_MIN_VIDEO_SECONDS=30), whose chunks run at once")

    # Long videos: prepare + merge on VideoStepsFunction (2 GB, serial work), each chunk on a
    # ChunkFunction of each size, all chunks at once: wall ~ prepare + one chunk + merge.
    per_chunk = v["analyse"] / v["chunks"] * (CHUNK_S / (60.0 / v["chunks"]))
    chunks_per_hour = 3600 / CHUNK_S
    transitions = (8 * 60 + 2 * chunks_per_hour) * SFN_TRANSITION  # 60 one-minute executions
    steps = 60 * lambda_cost(2048, v["rest"], TMP_MB["steps"])
    print(f"\n| ChunkFunction | s / {CHUNK_S:.0f}-s chunk (p=0) | $ / video hour via Step Functions |")
    print("|---|---|---|")
    sfn_usd = {}
    for mb in SIZES:
        usd = steps + chunks_per_hour * lambda_cost(mb, per_chunk, TMP_MB["chunk"]) + transitions
        sfn_usd[mb] = usd + 60 * storage_cost(REQUESTS["video_minute"])
        print(f"| {mb} MB | {per_chunk:.2f} | {sfn_usd[mb]:.4f} |")
    print(f"(of which Standard state transitions: ${transitions:.4f} per video hour, at {CHUNK_S:.0f}-s chunks; "
          f"in process on JobsFunction it would be ${chosen['video_usd']:.4f}, but slower than the goal)")
    print(f"usd_per_1000_images={chosen['image_usd']:.4f} usd_per_video_hour={sfn_usd[2048]:.4f}")


if __name__ == "__main__":
    main()
