"""ResMem's own activations as saliency readout taps, for the "reuse the memorability pass" experiment.

    .venv/bin/python scripts/saliency_resmem.py
    .venv-train/bin/python scripts/train_saliency.py --backbones lite1,resmem ...

The memorability model already runs a frozen ImageNet ResNet-152 and a memorability-trained
AlexNet-like branch on every image (resmem's input: squashed to 256x256, centre 227x227 crop, no
mean/std). If their activations help the saliency readout, saliency could read them from the
memorability pass at no extra backbone cost. This script reads the three activations the
product's fp32 ResMem graph hands out (ResNet layer3, 1024 ch at 15x15; layer4, 2048 ch at 8x8;
the AlexNet branch's conv5, 256 ch at 13x13) and moves each from the crop onto a square grid
over the whole (squashed) image frame, edge cells replicated beyond the crop: l3 and alex 16x16,
l4 8x8 (readout.resmem_frame_matrix, which the product's graph applies too). The trainer resizes
every tap to the image's own grid. Mirrored training rows run the mirrored image. Writes
.cache/saliency/resmem/<set>.<W>x<H>.{l3,l4,alex}.npy in the backbone caches' layout (float16
(rows, C, n, n)).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from saliency_features import CACHE, DATA, SETS  # noqa: E402

from impactlens.media.image_io import decode_image  # noqa: E402
from impactlens.models.converters import RESMEM_TAPS  # noqa: E402
from impactlens.models.preprocess import resmem_input, saliency_size  # noqa: E402
from impactlens.models.readout import RESMEM_FRAME_CELLS, resmem_frame_matrix  # noqa: E402
from impactlens.models.runtime import ort_session  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402


def session() -> ort.InferenceSession:
    """The product's fp32 ResMem graph, handing out the taps (converters.RESMEM_TAPS) as outputs."""
    return ort_session(get_settings().model_dir / "resmem-1.1.6.fp32.onnx", 2, tap_outputs=True)


def main() -> None:
    sess = session()
    outs = list(RESMEM_TAPS)
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
            g = groups.setdefault(f"{w}x{h}", {t: [] for t in outs})
            for tap, arr in zip(outs, res, strict=True):
                src, n = arr.shape[-1], RESMEM_FRAME_CELLS[tap]
                m = mats.setdefault((src, n), resmem_frame_matrix(src, n))
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
        index = {"names": names, "mirrored": mirrored, "taps": outs, "sizes": sorted(groups)}
        (out_dir / f"{set_name}.names.json").write_text(json.dumps(index))


if __name__ == "__main__":
    main()
