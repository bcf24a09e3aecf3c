"""ResMem's own activations as saliency readout taps, for the "reuse the memorability pass" experiment.

    .venv/bin/python scripts/saliency_resmem.py
    .venv-train/bin/python scripts/train_saliency.py --backbones lite1,resmem ...

The memorability model already runs a frozen ImageNet ResNet-152 and a memorability-trained
AlexNet-like branch on every image (resmem's input: squashed to 256x256, centre 227x227
crop, no mean/std). If their activations help the saliency readout, saliency could read
them from the memorability pass at no extra backbone cost. This script adds three outputs to
the product's fp32 ResMem graph (ResNet layer3, 1024 ch at 15x15; layer4, 2048 ch at 8x8; the
AlexNet branch's conv5, 256 ch at 13x13) and resamples each from the crop onto a square grid
over the whole (squashed) image frame, edge cells replicated beyond the crop: l3 and alex 16x16,
l4 8x8. The trainer resizes every tap to the image's own grid. Mirrored training rows run the
mirrored image. Writes .cache/saliency/resmem/<set>.<W>x<H>.{l3,l4,alex}.npy in the backbone
caches' layout (float16 (rows, C, n, n)).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from saliency_features import CACHE, DATA, SETS  # noqa: E402

from impactlens.media.image_io import decode_image  # noqa: E402
from impactlens.models.preprocess import RESMEM_CROP, RESMEM_RESIZE, resmem_input, saliency_size  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

# output name in the converted graph -> (tap, frame grid cells per side)
TAPS = {"relu_650": ("l3", 16), "relu_692": ("l4", 8), "relu_23": ("alex", 16)}


def frame_matrix(src: int, n: int) -> np.ndarray:
    """(n, src): bilinear weights from a crop feature axis of `src` cells to `n` frame cells."""
    off = int(round((RESMEM_RESIZE - RESMEM_CROP) / 2.0))
    centres = (np.arange(n) + 0.5) * RESMEM_RESIZE / n - off  # crop pixels
    f = np.clip(centres * src / RESMEM_CROP - 0.5, 0, src - 1)
    lo = np.floor(f).astype(int)
    hi = np.minimum(lo + 1, src - 1)
    m = np.zeros((n, src), np.float32)
    m[np.arange(n), lo] += 1 - (f - lo)
    m[np.arange(n), hi] += f - lo
    return m


def session() -> ort.InferenceSession:
    model = onnx.load(str(get_settings().model_dir / "resmem-1.1.6.fp32.onnx"))
    for name in TAPS:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def main() -> None:
    sess = session()
    outs = list(TAPS)
    out_dir = CACHE / "resmem"
    out_dir.mkdir(parents=True, exist_ok=True)
    mats: dict[tuple[int, int], np.ndarray] = {}
    for set_name, (folder, names, _, mirrored) in SETS.items():
        if (out_dir / f"{set_name}.names.json").exists():
            continue
        groups: dict[str, dict[str, list[np.ndarray]]] = {}
        members: dict[str, list[str]] = {}
        t0 = time.time()
        for i, name in enumerate(names):
            img = decode_image(DATA / folder / "images" / name, 200_000_000).image.convert("RGB")
            w, h = saliency_size(*img.size)
            views: list[Image.Image] = [img, ImageOps.mirror(img)] if mirrored else [img]
            res = sess.run(outs, {sess.get_inputs()[0].name: np.concatenate([resmem_input(v) for v in views])})
            g = groups.setdefault(f"{w}x{h}", {t: [] for t, _ in TAPS.values()})
            for (tap, n), arr in zip(TAPS.values(), res, strict=True):
                src = arr.shape[-1]
                m = mats.setdefault((src, n), frame_matrix(src, n))
                framed = np.einsum("ih,bchw,jw->bcij", m, arr, m).astype(np.float16)
                g[tap].extend(list(framed))
            members.setdefault(f"{w}x{h}", []).append(name)
            if i % 100 == 0:
                print(f"resmem/{set_name} {i}/{len(names)} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
        for size, taps in groups.items():
            for tap, rows in taps.items():
                np.save(out_dir / f"{set_name}.{size}.{tap}.npy", np.stack(rows))
            info = {"names": members[size], "mirrored": mirrored, "taps": list(taps)}
            (out_dir / f"{set_name}.{size}.names.json").write_text(json.dumps(info))
        index = {"names": names, "mirrored": mirrored, "taps": [t for t, _ in TAPS.values()], "sizes": sorted(groups)}
        (out_dir / f"{set_name}.names.json").write_text(json.dumps(index))


if __name__ == "__main__":
    main()
