"""INT8 saliency against its fp32 graph on the held-out NUS 401-500 and OSIE 1601-1700.

    .venv/bin/python bench/saliency_int8.py [--data ../shared/data] [--limit N] [--threads 1]

Scores both graphs of the configured saliency model (registry variants "fp32" and "int8",
built by `impactlens models build`) with bench/saliency_eval.py's protocol, and prints per
metric the int8 - fp32 difference over the same images with a paired bootstrap 95% interval
(2000 resamples), the maps' Pearson CC (int8 vs fp32 grids) and both graphs' median time per
image, calls alternating so both see the same load. Last line:
`cc_vs_fp32=<a> speedup=<b> d_auc_judd=<c> d_nss=<d> osie_d_auc_judd=<e> osie_d_nss=<f>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.evaluation.protocol import METRICS, evaluate, nus, osie  # noqa: E402
from impactlens.media.heatmap import upsample_density  # noqa: E402
from impactlens.models.runtime import SaliencyModel, load_saliency  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402


def paired(diff: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, diff.size, (resamples, diff.size))].mean(axis=1)
    return float(diff.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    s = get_settings()
    models = {v: load_saliency(s.saliency_model, v, s.model_dir, args.threads) for v in ("fp32", "int8")}
    grids: dict[str, list[np.ndarray]] = {v: [] for v in models}
    times: dict[str, list[float]] = {v: [] for v in models}

    def fn(variant: str, model: SaliencyModel):  # type: ignore[no-untyped-def]
        def run(name: str, image: Image.Image) -> np.ndarray:
            t = time.perf_counter()
            grid, _ = model.predict(image)
            times[variant].append(time.perf_counter() - t)
            grids[variant].append(grid)
            return upsample_density(grid, image.size[0], image.size[1])

        return run

    print(f"saliency {models['fp32'].spec.filename} vs {models['int8'].spec.filename}, threads {args.threads}")
    last: dict[str, str] = {}
    for protocol in (nus(args.data / "nus-scene"), osie(args.data / "osie")):
        scores = evaluate(protocol, {v: fn(v, m) for v, m in models.items()}, args.limit)
        print(f"\n{protocol.name}: int8 - fp32, mean [paired 95% bootstrap interval]; fp32 mean")
        for m in METRICS:
            a, b = np.array(scores["fp32"][m]), np.array(scores["int8"][m])
            d, lo, hi = paired(b - a)
            print(f"  {m:<9} {d:+.4f} [{lo:+.4f}, {hi:+.4f}]   fp32 {a.mean():.4f}  int8 {b.mean():.4f}")
            if m in ("auc_judd", "nss"):
                last[("" if protocol.name == "nus" else "osie_") + f"d_{m}"] = f"{d:+.4f}"
    cc = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(grids["fp32"], grids["int8"], strict=True)]
    ratio = statistics.median(a / b for a, b in zip(times["fp32"], times["int8"], strict=True))
    ms = {v: 1000 * statistics.median(t) for v, t in times.items()}
    print(f"\nmap CC int8 vs fp32 over {len(cc)} images: mean {np.mean(cc):.4f}, min {np.min(cc):.4f}")
    print(f"median ms per image: fp32 {ms['fp32']:.1f}, int8 {ms['int8']:.1f}; fp32/int8 per image {ratio:.2f}")
    tail = " ".join(f"{k}={v}" for k, v in last.items())
    print(f"cc_vs_fp32={np.mean(cc):.4f} speedup={ratio:.2f} {tail}")


if __name__ == "__main__":
    main()
