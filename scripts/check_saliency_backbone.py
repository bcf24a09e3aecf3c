"""Checks the torch-free EfficientNet-Lite converter against the reference torch model.

Training venv only (needs torch and ``efficientnet_lite_pytorch``, installed --no-deps):

    .venv-train/bin/python scripts/check_saliency_backbone.py [--write-fixture]

For each of Lite0/1/2: the ONNX taps vs the torch model's intermediate activations on a
real photograph at 384x512 (max abs difference, relative to the tap's largest value).
``--write-fixture`` saves tests/fixtures/efficientnet_lite0_taps.npz: a 64x64 input and the
torch model's pooled taps for it, which tests/test_saliency_backbone.py compares against
the ONNX graph in CI (where torch is not installed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from efficientnet_lite_pytorch import EfficientNet
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.models.checkpoint import load_state_dict  # noqa: E402
from impactlens.models.efficientnet import LITE_MEAN, LITE_STD, block_layout, efficientnet_lite_to_onnx  # noqa: E402
from impactlens.models.preprocess import saliency_input  # noqa: E402
from impactlens.models.sources import EFFICIENTNET_LITE, package_file  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "efficientnet_lite0_taps.npz"


def torch_taps(model: EfficientNet, layout: list[tuple[int, int, int]], x: torch.Tensor) -> dict[str, np.ndarray]:
    last = {s: n for n, (s, _, _) in enumerate(layout)}
    names = {last[2]: "f8", last[4]: "f16", last[6]: "f32"}
    out: dict[str, np.ndarray] = {}
    with torch.no_grad():
        y = model._swish(model._bn0(model._conv_stem(x)))
        for n, block in enumerate(model._blocks):
            y = block(y)
            if n in names:
                out[names[n]] = y.numpy()
        out["head"] = model._swish(model._bn1(model._conv_head(y))).numpy()
    return out


def lite_from_imagenet(x: np.ndarray) -> np.ndarray:
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    return ((x * std + mean - LITE_MEAN) / LITE_STD).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write-fixture", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    photos = sorted((ROOT / "impactlens" / "data" / "calibration").glob("*.jpg"))[:1]
    for variant in (0, 1, 2):
        path = package_file(EFFICIENTNET_LITE[variant])
        weights = load_state_dict(path)
        # Static SAME padding is computed for the model's image size: give it ours.
        model = EfficientNet.from_pretrained(
            f"efficientnet-lite{variant}", weights_path=str(path), image_size=[384, 512]
        ).eval()
        layout = block_layout(weights)
        graph = efficientnet_lite_to_onnx(weights, {}, 384, 512)
        sess = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
        x = saliency_input(Image.open(photos[0]))
        ref = torch_taps(model, layout, torch.from_numpy(lite_from_imagenet(x)))
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"image": x}), strict=True))
        worst = max(float(np.abs(got[k] - ref[k]).max() / (np.abs(ref[k]).max() + 1e-9)) for k in ref)
        print(f"lite{variant}: max |onnx - torch| / max|torch| over taps = {worst:.2e}")
        if variant == 0 and args.write_fixture:
            small = torch.randn(1, 3, 64, 64).numpy()
            taps = torch_taps(model, layout, torch.from_numpy(lite_from_imagenet(small)))
            FIXTURE.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(
                FIXTURE,
                image=small,
                **{k: v.mean((2, 3)) for k, v in taps.items()},
                **{f"{k}_corner": v[0, :8, :2, :2] for k, v in taps.items()},
            )
            print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
