"""Saliency accuracy on NUS scene images 401-500 (the held-out split), ours vs two baselines.

    .venv/bin/python bench/saliency_eval.py [--data ../shared/data/nus-scene] [--limit N]

Metrics (MIT saliency benchmark definitions, impactlens/evaluation/metrics.py) are computed
at the image's resolution, capped at 1024 px on the long side (fixations scaled alike); the
continuous ground truth for CC/KLD/SIM blurs fixations with sigma = 2.5% of the long side.
sAUC negatives are the fixations of the other 99 evaluation images. Last line:
`auc_judd=<a> sauc=<b> nss=<c>` for our model.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.evaluation.baselines import centre_bias, spectral_residual  # noqa: E402
from impactlens.evaluation.fixations import load_fixations  # noqa: E402
from impactlens.evaluation.metrics import all_metrics  # noqa: E402
from impactlens.media.heatmap import upsample_density  # noqa: E402
from impactlens.media.image_io import decode_image  # noqa: E402
from impactlens.models.runtime import load_saliency  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

MAX_SIDE = 1024
METRICS = ("auc_judd", "sauc", "nss", "cc", "kld", "sim")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "nus-scene")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--first", type=int, default=401)
    args = ap.parse_args()
    settings = get_settings()
    model = load_saliency(settings.saliency_model, "fp32", settings.model_dir)
    fixations = load_fixations(args.data / "fixations.csv")
    names = [f"{i:03d}.jpg" for i in range(args.first, args.first + args.limit)]
    sizes = {n: Image.open(args.data / "images" / n).size for n in names}
    # Normalised (0..1) fixation positions of every evaluation image, for sAUC negatives.
    norm = {n: fixations[n] / np.array(sizes[n]) for n in names}
    scores: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in ("ours", "centre", "spectral")}
    seconds = []
    for n in names:
        decoded = decode_image(args.data / "images" / n, 200_000_000)
        w, h = decoded.width, decoded.height
        scale = min(1.0, MAX_SIDE / max(w, h))
        ew, eh = max(1, round(w * scale)), max(1, round(h * scale))
        img = decoded.image.resize((ew, eh), Image.Resampling.BILINEAR) if scale < 1 else decoded.image
        t = time.perf_counter()
        grid, _ = model.predict(decoded.image)
        seconds.append(time.perf_counter() - t)
        maps = {
            "ours": upsample_density(grid, ew, eh),
            "centre": centre_bias(eh, ew),
            "spectral": spectral_residual(img),
        }
        pts = fixations[n] * scale
        others = np.concatenate([norm[o] for o in names if o != n]) * np.array([ew, eh])
        for model_name, sal in maps.items():
            for k, v in all_metrics(sal, pts, others, sigma=0.025 * max(ew, eh)).items():
                scores[model_name][k].append(v)
    print(f"images {names[0]}..{names[-1]} ({len(names)}); saliency model {np.mean(seconds) * 1000:.0f} ms/image")
    print(f"{'model':<10}" + "".join(f"{m:>10}" for m in METRICS))
    for model_name, per in scores.items():
        print(f"{model_name:<10}" + "".join(f"{np.nanmean(per[m]):>10.3f}" for m in METRICS))
    ours = {m: float(np.nanmean(scores["ours"][m])) for m in METRICS}
    print(f"auc_judd={ours['auc_judd']:.3f} sauc={ours['sauc']:.3f} nss={ours['nss']:.3f}")


if __name__ == "__main__":
    main()
