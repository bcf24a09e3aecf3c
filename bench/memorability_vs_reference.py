"""ResMem: our ONNX fp32 and INT8 models vs the reference resmem package, in one run.

    .venv/bin/python bench/memorability_vs_reference.py [--images DIR] [--count 60]

The reference (resmem 1.1.6 with torch + torchvision) runs in its own environment, created
by bench/reference_env.sh on first use, as a subprocess of this script; ours runs in this
process with ONNX Runtime. Both use batch 1, all cores, and time preprocessing + inference
per image after one warm-up call. Last line: `int8 speedup=<x> rho=<y>`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.models.runtime import load_memorability  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402


def run_reference(images: list[Path]) -> dict[str, dict[str, float]]:
    env_script = ROOT / "bench" / "reference_env.sh"
    python = subprocess.run(["bash", str(env_script)], check=True, capture_output=True, text=True)
    interpreter = python.stdout.strip().splitlines()[-1]
    out = subprocess.run(
        [interpreter, str(ROOT / "bench" / "resmem_reference_worker.py"), *map(str, images)],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONWARNINGS": "ignore"},
    )
    result: dict[str, dict[str, float]] = json.loads(out.stdout)
    return result


def run_ours(variant: str, images: list[Path]) -> tuple[dict[str, float], dict[str, float]]:
    s = get_settings()
    model = load_memorability(s.memorability_model, variant, s.model_dir)
    model.predict(Image.open(images[0]).convert("RGB"))  # warm-up
    scores, seconds = {}, {}
    for p in images:
        t = time.perf_counter()
        scores[p.name] = model.predict(Image.open(p).convert("RGB"))[0]
        seconds[p.name] = time.perf_counter() - t
    return scores, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "data" / "nus-scene" / "images")
    ap.add_argument("--first", type=int, default=401, help="held-out NUS images start at 401")
    ap.add_argument("--count", type=int, default=60)
    args = ap.parse_args()
    images = [args.images / f"{i:03d}.jpg" for i in range(args.first, args.first + args.count)]
    print(f"{len(images)} photographs from {args.images}, batch 1, {os.cpu_count()} cores")
    ours = {v: run_ours(v, images) for v in ("fp32", "int8")}
    ref = run_reference(images)
    names = [p.name for p in images]
    ref_scores = np.array([ref["scores"][n] for n in names])
    ref_time = float(np.median([ref["seconds"][n] for n in names]))
    print(f"reference resmem (torch {ref['torch']}): {ref_time * 1000:.0f} ms/image (median)")
    summary = {}
    for variant, (scores, seconds) in ours.items():
        s = np.array([scores[n] for n in names])
        t = float(np.median([seconds[n] for n in names]))
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
