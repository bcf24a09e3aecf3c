"""Backbone features of the saliency training and test images, extracted once and cached.

    .venv-train/bin/python scripts/saliency_features.py --backbone lite0 [--sets nus_train,...]

Each image goes to the backbone at its own aspect ratio (preprocess.saliency_size, as the
product does), so a set's images fall into a few input sizes. Per set and size, writes
.cache/saliency/<backbone>/<set>.<W>x<H>.<tap>.npy (float16, memory-mapped when training, so
the trainer's resident memory stays small), <set>.<W>x<H>.counts.npy (fixations per stride-8
cell) and <set>.<W>x<H>.names.json; <set>.names.json lists the sizes. Training sets hold each
image twice, as is and mirrored (one size's rows 2i, 2i+1); test sets only as is. The images
go through the product's own decoding and preprocessing. Needs onnxruntime only (no torch).
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
from impactlens.models.preprocess import IMAGENET_MEAN, IMAGENET_STD, SALIENCY_AREA, saliency_size  # noqa: E402
from impactlens.models.sources import EFFICIENTNET_LITE, MOBILENET, package_file  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / ".cache" / "saliency"
STRIDES = {"f8": 8, "f16": 16, "f32": 32, "head": 32}
# set -> (folder, image numbers, fixation table 1-based?, mirrored copies?)
SETS = {
    "nus_train": ("nus-scene", [f"{i:03d}.jpg" for i in range(1, 401)], True, True),
    "osie_train": ("osie", [f"{i}.jpg" for i in range(1001, 1601)], False, True),
    "nus_test": ("nus-scene", [f"{i:03d}.jpg" for i in range(401, 501)], True, False),
    "osie_test": ("osie", [f"{i}.jpg" for i in range(1601, 1701)], False, False),
}


def backbone_graph(name: str) -> onnx.ModelProto:
    if name == "mnv2":
        return mobilenet_v2_to_onnx(load_state_dict(package_file(MOBILENET)), {}, 384, 512)
    if name.startswith("lite"):
        weights = load_state_dict(package_file(EFFICIENTNET_LITE[int(name[4:])]))
        return efficientnet_lite_to_onnx(weights, {}, 384, 512)
    raise SystemExit(f"unknown backbone {name}")


def grid_counts(
    xy: np.ndarray, width: int, height: int, grid: tuple[int, int], one_based: bool, flip: bool
) -> np.ndarray:
    """Fixations per grid cell; positions as continuous coordinates (pixel centres at +0.5)."""
    rows, cols = grid
    cx = xy[:, 0] + (0.5 if one_based else 0.0)
    cy = xy[:, 1] + (0.5 if one_based else 0.0)
    if flip:
        cx = width - cx
    gx = np.clip(cx / width * cols, 0, cols - 1e-6).astype(int)
    gy = np.clip(cy / height * rows, 0, rows - 1e-6).astype(int)
    c = np.zeros((rows, cols), np.float32)
    np.add.at(c, (gy, gx), 1.0)
    return c


def network_input(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    arr = (np.asarray(image.resize(size, Image.Resampling.BILINEAR), np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])


def extract(backbone: str, set_name: str, scale: float = 1.0) -> None:
    """scale != 1: the backbone sees each image at scale x the product's input area (from the
    primary input size, so one primary size group has one size), cached under the primary size
    key in <backbone>-s<scale>/ beside the primary features, for multi-scale readouts."""
    folder, names, one_based, mirrored = SETS[set_name]
    out = CACHE / (backbone if scale == 1.0 else f"{backbone}-s{scale:g}")
    out.mkdir(parents=True, exist_ok=True)
    index_file = out / f"{set_name}.names.json"
    old = json.loads(index_file.read_text()) if index_file.exists() else {}
    if "sizes" in old:
        print(f"{backbone}/{set_name}: cached", file=sys.stderr)
        return
    # A cache from before aspect-preserving inputs holds every image at 512x384: its rows of
    # 4:3 images are exactly what this run would compute, so they are copied, not recomputed.
    legacy = {t: np.load(out / f"{set_name}.{t}.npy", mmap_mode="r") for t in old.get("taps", []) if scale == 1.0}
    legacy_row = {n: i * (2 if old["mirrored"] else 1) for i, n in enumerate(old.get("names", []))}
    graph = backbone_graph(backbone)
    # Free input size: "same" padding is identical for every multiple of 32.
    for value in [graph.graph.input[0], *graph.graph.output]:
        for axis, d in zip(("rows", "cols"), value.type.tensor_type.shape.dim[2:], strict=True):
            d.dim_param = f"{value.name}_{axis}"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(graph.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    taps = [o.name for o in sess.get_outputs()]
    channels = {o.name: o.shape[1] for o in sess.get_outputs()}
    fix = load_fixations(DATA / folder / "fixations.csv", one_based=one_based)
    by_size: dict[tuple[int, int], list[str]] = {}
    for name in names:
        with Image.open(DATA / folder / "images" / name) as im:
            by_size.setdefault(saliency_size(*im.size), []).append(name)
    copies = (False, True) if mirrored else (False,)
    t0, done = time.time(), 0
    for (w, h), group in sorted(by_size.items()):
        key = f"{set_name}.{w}x{h}"
        rows = len(group) * len(copies)
        sw, sh = (w, h) if scale == 1.0 else saliency_size(w, h, SALIENCY_AREA * scale)
        arrays = {
            t: np.lib.format.open_memmap(
                out / f"{key}.{t}.npy",
                "w+",
                np.float16,
                (rows, channels[t], -(-sh // STRIDES[t]), -(-sw // STRIDES[t])),
            )
            for t in taps
        }
        counts = np.zeros((rows, h // 8, w // 8), np.float32)
        r = 0
        for name in group:
            img = decode_image(DATA / folder / "images" / name, 200_000_000)
            for k, flip in enumerate(copies):
                if legacy and (w, h) == (512, 384) and name in legacy_row:
                    for t in taps:
                        arrays[t][r] = legacy[t][legacy_row[name] + k]
                else:
                    im = img.image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img.image
                    for t, o in zip(taps, sess.run(taps, {"image": network_input(im, (sw, sh))}), strict=True):
                        arrays[t][r] = o[0].astype(np.float16)
                xy = fix.get(name, np.zeros((0, 2)))
                counts[r] = grid_counts(xy, img.width, img.height, (h // 8, w // 8), one_based, flip)
                r += 1
            done += 1
            if done % 100 == 0:
                print(f"{backbone}/{set_name} {done}/{len(names)} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
        for a in arrays.values():
            a.flush()
        np.save(out / f"{key}.counts.npy", counts)
        (out / f"{key}.names.json").write_text(json.dumps({"names": group, "mirrored": mirrored, "taps": taps}))
    sizes = [f"{w}x{h}" for w, h in sorted(by_size)]
    index = {"names": names, "mirrored": mirrored, "taps": taps, "sizes": sizes}
    index_file.write_text(json.dumps(index))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", required=True)
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--scale", type=float, default=1.0, help="input area relative to the product's (multi-scale)")
    args = ap.parse_args()
    for s in args.sets.split(","):
        extract(args.backbone, s, args.scale)


if __name__ == "__main__":
    main()
