"""ResMem: our ONNX fp32 and INT8 models vs the reference resmem package, in one run.

    .venv/bin/python bench/memorability_vs_reference.py [--images DIR] [--count 60]

The reference (resmem 1.1.6 with torch + torchvision) runs in its own environment, created
by bench/reference_env.sh on first use, as a subprocess of this script that answers one
image at a time; ours runs in this process with ONNX Runtime. The three (reference, fp32,
int8) take turns, `--block` images each (default 5) in a rotating order, so a busy moment
on the shared machine lands on all of them alike (other processes' CPU use during the loop
is reported). Within a block a model runs back to back, as the earlier one-model-at-a-time
version of this bench did; `--block 1` alternates every image, so every call starts with
the other models' weights in the CPU caches (measured: int8 slows more than torch's fp32,
whose 0.5 GB of weights never fit in the cache). All use batch 1 and all cores (`--threads 1`:
one core each, a steadier figure when another process keeps a core busy), and time
decode + preprocessing + inference per image after one warm-up call.
Last line: `int8 speedup=<x> rho=<y>`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.models.registry import model_path  # noqa: E402
from impactlens.models.runtime import MemorabilityModel, load_memorability, ort_session  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

VARIANTS = ("fp32", "int8")


def machine_busy_s() -> float:
    """CPU seconds all processes have run so far (/proc/stat: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class Reference:
    """The reference resmem in its own environment, answering one image at a time."""

    def __init__(self, threads: int) -> None:
        env_script = ROOT / "bench" / "reference_env.sh"
        python = subprocess.run(["bash", str(env_script)], check=True, capture_output=True, text=True)
        interpreter = python.stdout.strip().splitlines()[-1]
        self.proc = subprocess.Popen(
            [interpreter, str(ROOT / "bench" / "resmem_reference_worker.py"), "--serve", str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONWARNINGS": "ignore"},
        )
        self.torch = json.loads(self._line())["torch"]

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the reference worker stopped")
        return line

    def predict(self, path: Path) -> tuple[float, float]:
        """(score, seconds as the worker timed it: decode + transform + model)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        answer = json.loads(self._line())
        return float(answer["score"]), float(answer["seconds"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def timed_ours(model: MemorabilityModel, path: Path) -> tuple[float, float]:
    t = time.perf_counter()
    score = model.predict(Image.open(path).convert("RGB"))[0]
    return score, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "nus-scene" / "images")
    ap.add_argument("--first", type=int, default=401, help="held-out NUS images start at 401")
    ap.add_argument("--count", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="threads for both sides (0: all cores)")
    ap.add_argument("--compare-dir", type=Path, help="another model dir whose int8 build joins the turns")
    ap.add_argument("--spin", action="store_true", help="our sessions' idle threads spin (ONNX Runtime's default)")
    ap.add_argument(
        "--block", type=int, default=5, help="images each model runs in a row (1: a cold cache for every call)"
    )
    args = ap.parse_args()
    images = [args.images / f"{i:03d}.jpg" for i in range(args.first, args.first + args.count)]
    print(
        f"{len(images)} photographs from {args.images}, batch 1, {os.cpu_count()} cores, "
        f"{args.rounds} rounds, blocks of {args.block}, threads {args.threads or 'all'}"
        f"{', spinning' if args.spin else ''}"
    )
    settings = get_settings()
    ours = {v: load_memorability(settings.memorability_model, v, settings.model_dir, args.threads) for v in VARIANTS}
    if args.spin:  # ONNX Runtime's default: idle worker threads spin (impactlens turns it off)
        for model in ours.values():
            model.session = ort_session(model_path(settings.model_dir, model.spec), args.threads, spin=True)
    if args.compare_dir:
        ours["int8 from --compare-dir"] = load_memorability(
            settings.memorability_model, "int8", args.compare_dir, args.threads
        )
    ref = Reference(args.threads)
    runners: dict[str, Callable[[Path], tuple[float, float]]] = {
        "reference": ref.predict,
        **{v: partial(timed_ours, m) for v, m in ours.items()},
    }
    for run in runners.values():
        run(images[0])  # warm-up
    scores: dict[str, dict[str, float]] = {k: {} for k in runners}
    seconds: dict[str, list[float]] = {k: [] for k in runners}
    busy0, own0, child0, wall0 = machine_busy_s(), time.process_time(), process_cpu_s(ref.proc.pid), time.perf_counter()
    order = list(runners)
    for _ in range(args.rounds):
        for b, first in enumerate(range(0, len(images), args.block)):
            # Block by block, in a rotating order: all three see the same load, none always first.
            for k in order[b % len(order) :] + order[: b % len(order)]:
                for p in images[first : first + args.block]:
                    score, sec = runners[k](p)
                    scores[k][p.name] = score
                    seconds[k].append(sec)
    ref_cpu = process_cpu_s(ref.proc.pid) - child0
    others = (machine_busy_s() - busy0) - (time.process_time() - own0) - ref_cpu
    others /= time.perf_counter() - wall0
    ref.close()
    print(f"machine: other processes used {max(0.0, others):.2f} cores on average during the timed loop")
    if others > 0.1 * (os.cpu_count() or 1):
        print("  (busy: threads that wait by spinning, torch's more than ours, lose most; the speed-up is not")
        print("   the quiet-machine figure, rho and deltas are unaffected)")
    names = [p.name for p in images]
    ref_scores = np.array([scores["reference"][n] for n in names])
    ref_time = float(np.median(seconds["reference"]))
    print(f"reference resmem (torch {ref.torch}): {ref_time * 1000:.0f} ms/image (median)")
    summary = {}
    for variant in ours:
        s = np.array([scores[variant][n] for n in names])
        t = float(np.median(seconds[variant]))
        rho = float(spearmanr(s, ref_scores).statistic)
        summary[variant] = (ref_time / t, rho)
        print(
            f"{variant}: {t * 1000:.0f} ms/image (median), speedup {ref_time / t:.2f}x, "
            f"spearman rho {rho:.4f}, max |delta| {np.abs(s - ref_scores).max():.2e}, "
            f"mean |delta| {np.abs(s - ref_scores).mean():.2e}"
        )
    speedup, rho = summary["int8"]
    print(f"int8 speedup={speedup:.2f} rho={rho:.4f}")


if __name__ == "__main__":
    main()
