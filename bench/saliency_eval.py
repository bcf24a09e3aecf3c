"""Saliency accuracy on the held-out splits NUS 401-500 and OSIE 1601-1700, with baselines.

    .venv/bin/python bench/saliency_eval.py [--data ../shared/data] [--limit N] [--variant fp32|int8]

Scoring follows each data set's README (impactlens/evaluation/protocol.py): MIT-benchmark
metric definitions, shuffled-AUC negatives from the other evaluation images, CC/KLD/SIM
against blurred fixation maps. Every figure is the mean over images with a bootstrap 95%
interval (2000 resamples of the images). Rows: the configured saliency model (or --model), the
previous one (lite0-readout, or --previous), a centre-bias Gaussian and the spectral-residual
classical model.
Speed: both learned models on the same photographs, alternating calls in this process
(median ms per image on the configured threads), and their ratio. ``--variant int8`` scores
both learned models' INT8 builds (what the product runs by default; fp32 is the default here,
the figures the model card reports). Last line:
`auc_judd=<a> sauc=<b> nss=<c> cc=<d> osie_auc_judd=<e> osie_nss=<f> osie_cc=<g>` (ours).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.evaluation.baselines import centre_bias, spectral_residual  # noqa: E402
from impactlens.evaluation.protocol import METRICS, MapFn, evaluate, nus, osie, summarise  # noqa: E402
from impactlens.media.heatmap import upsample_density  # noqa: E402
from impactlens.models.runtime import SaliencyModel, load_saliency  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

PREVIOUS = "lite0-readout"


def model_fn(model: SaliencyModel) -> MapFn:
    def run(name: str, image: Image.Image) -> np.ndarray:
        grid, _ = model.predict(image)
        return upsample_density(grid, image.size[0], image.size[1])

    return run


def speed(models: dict[str, SaliencyModel], images: list[Path], rounds: int = 3) -> dict[str, float]:
    """Median ms per image, calls alternating between the models so both see the same load.

    A model that reads the memorability pass is timed as the product runs it: given that
    pass's activations (computed outside the timing), since an analysis makes the pass anyway
    for the memorability score; its time is what saliency adds to an analysis."""
    loaded = [Image.open(p).convert("RGB") for p in images]
    taps = {k: [m.feeder.predict_with_taps(im)[1] if m.feeder else None for im in loaded] for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    for k, m in models.items():  # warm-up
        m.predict(loaded[0], taps[k][0])
    for _ in range(rounds):
        for i, im in enumerate(loaded):
            for k, m in models.items():
                t = time.perf_counter()
                m.predict(im, taps[k][i])
                times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) * 1000 for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--limit", type=int, default=None, help="score only the first N images of each split")
    ap.add_argument("--variant", choices=("fp32", "int8"), default="fp32", help="the learned models' build")
    ap.add_argument("--model", default=None, help="a registered saliency model (default: the configured one)")
    ap.add_argument("--previous", default=PREVIOUS, help="the learned model to compare with")
    args = ap.parse_args()
    settings = get_settings()
    ours = load_saliency(args.model or settings.saliency_model, args.variant, settings.model_dir, settings.threads)
    previous = load_saliency(args.previous, args.variant, settings.model_dir, settings.threads)
    name = ours.spec.version
    fns: dict[str, MapFn] = {name: model_fn(ours)}
    if previous.spec.name != ours.spec.name:
        fns[previous.spec.version] = model_fn(previous)
    fns["centre-bias"] = lambda n, im: centre_bias(im.size[1], im.size[0])
    fns["spectral-residual"] = lambda n, im: spectral_residual(im)
    results = {}
    for protocol in (nus(args.data / "nus-scene"), osie(args.data / "osie")):
        t = time.perf_counter()
        summary = summarise(evaluate(protocol, fns, args.limit))
        results[protocol.name] = summary
        first, last = protocol.images[0], protocol.images[(args.limit or len(protocol.images)) - 1]
        print(f"\n{protocol.name} {first}..{last}: mean [95% bootstrap interval] ({time.perf_counter() - t:.0f}s)")
        print(f"{'model':<20}" + "".join(f"{m:>22}" for m in METRICS))
        for model, per in summary.items():
            cells = "".join(f"{f'{a:.3f} [{lo:.3f},{hi:.3f}]':>22}" for a, lo, hi in (per[m] for m in METRICS))
            print(f"{model:<20}{cells}")
    timing_images = [args.data / "nus-scene" / "images" / n for n in nus(args.data / "nus-scene").images[:20]]
    ms = speed({name: ours, previous.spec.version: previous}, timing_images)
    print(
        f"\nspeed (median over {len(timing_images)} NUS photographs x 3, alternating, "
        f"threads={settings.threads or 'all'}, {args.variant}): "
        + ", ".join(f"{k} {v:.1f} ms/image" for k, v in ms.items())
        + f"; ratio {ms[name] / ms[previous.spec.version]:.2f}"
    )
    n, o = results["nus"][name], results["osie"][name]
    print(
        f"auc_judd={n['auc_judd'][0]:.3f} sauc={n['sauc'][0]:.3f} nss={n['nss'][0]:.3f} cc={n['cc'][0]:.3f} "
        f"osie_auc_judd={o['auc_judd'][0]:.3f} osie_nss={o['nss'][0]:.3f} osie_cc={o['cc'][0]:.3f}"
    )


if __name__ == "__main__":
    main()
