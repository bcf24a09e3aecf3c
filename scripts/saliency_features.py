"""Backbone features of the saliency training and test images, extracted once and cached.

    .venv-train/bin/python scripts/saliency_features.py --backbone lite0 [--sets nus_train,...]

Writes .cache/saliency/<backbone>/<set>.<tap>.npy (float16, memory-mapped when training, so
the trainer's resident memory stays small) and <set>.counts.npy (fixations per grid cell) and
<set>.names.json. Training sets hold each image twice, as is and mirrored (rows 2i, 2i+1);
test sets only as is. The images go through the product's own decoding and preprocessing.
Needs onnxruntime only (no torch).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.evaluation.fixations import load_fixations  # noqa: E402
from impactlens.media.image_io import decode_image  # noqa: E402
from impactlens.models.checkpoint import load_state_dict  # noqa: E402
from impactlens.models.converters import mobilenet_v2_to_onnx  # noqa: E402
from impactlens.models.efficientnet import efficientnet_lite_to_onnx  # noqa: E402
from impactlens.models.preprocess import saliency_input  # noqa: E402
from impactlens.models.readout import GRID  # noqa: E402
from impactlens.models.sources import EFFICIENTNET_LITE, MOBILENET, package_file  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / ".cache" / "saliency"
H, W = GRID
# set -> (folder, image numbers, fixation table 1-based?, mirrored copies?)
SETS = {
    "nus_train": ("nus-scene", [f"{i:03d}.jpg" for i in range(1, 401)], True, True),
    "osie_train": ("osie", [f"{i}.jpg" for i in range(1001, 1601)], False, True),
    "nus_test": ("nus-scene", [f"{i:03d}.jpg" for i in range(401, 501)], True, False),
    "osie_test": ("osie", [f"{i}.jpg" for i in range(1601, 1701)], False, False),
}


def backbone_graph(name: str) -> onnx.ModelProto:
    if name == "mnv2":
        return mobilenet_v2_to_onnx(load_state_dict(package_file(MOBILENET)), {}, H * 8, W * 8)
    if name.startswith("lite"):
        weights = load_state_dict(package_file(EFFICIENTNET_LITE[int(name[4:])]))
        return efficientnet_lite_to_onnx(weights, {}, H * 8, W * 8)
    raise SystemExit(f"unknown backbone {name}")


def grid_counts(xy: np.ndarray, width: int, height: int, one_based: bool, flip: bool) -> np.ndarray:
    """Fixations per grid cell; positions as continuous coordinates (pixel centres at +0.5)."""
    cx = xy[:, 0] + (0.5 if one_based else 0.0)
    cy = xy[:, 1] + (0.5 if one_based else 0.0)
    if flip:
        cx = width - cx
    gx = np.clip(cx / width * W, 0, W - 1e-6).astype(int)
    gy = np.clip(cy / height * H, 0, H - 1e-6).astype(int)
    c = np.zeros((H, W), np.float32)
    np.add.at(c, (gy, gx), 1.0)
    return c


def extract(backbone: str, set_name: str) -> None:
    folder, names, one_based, mirrored = SETS[set_name]
    out = CACHE / backbone
    out.mkdir(parents=True, exist_ok=True)
    if (out / f"{set_name}.names.json").exists():
        print(f"{backbone}/{set_name}: cached", file=sys.stderr)
        return
    graph = backbone_graph(backbone)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    taps = [o.name for o in sess.get_outputs()]
    shapes = {o.name: o.shape for o in sess.get_outputs()}
    fix = load_fixations(DATA / folder / "fixations.csv", one_based=one_based)
    rows = len(names) * (2 if mirrored else 1)
    arrays = {
        t: np.lib.format.open_memmap(
            out / f"{set_name}.{t}.npy", "w+", np.float16, (rows, shapes[t][1], shapes[t][2], shapes[t][3])
        )
        for t in taps
    }
    counts = np.zeros((rows, H, W), np.float32)
    t0, r = time.time(), 0
    for i, name in enumerate(names):
        img = decode_image(DATA / folder / "images" / name, 200_000_000)
        for flip in (False, True) if mirrored else (False,):
            im = img.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img.image
            for t, o in zip(taps, sess.run(taps, {"image": saliency_input(im)}), strict=True):
                arrays[t][r] = o[0].astype(np.float16)
            counts[r] = grid_counts(fix.get(name, np.zeros((0, 2))), img.width, img.height, one_based, flip)
            r += 1
        if i % 100 == 0:
            print(f"{backbone}/{set_name} {i}/{len(names)} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    for a in arrays.values():
        a.flush()
    np.save(out / f"{set_name}.counts.npy", counts)
    (out / f"{set_name}.names.json").write_text(json.dumps({"names": names, "mirrored": mirrored, "taps": taps}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", required=True)
    ap.add_argument("--sets", default=",".join(SETS))
    args = ap.parse_args()
    for s in args.sets.split(","):
        extract(args.backbone, s)


if __name__ == "__main__":
    main()
