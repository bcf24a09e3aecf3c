"""Face and text maps of the saliency training and test images, for the "semantic channels" experiment.

    .venv/bin/python scripts/saliency_semantic.py

Runs the product's detectors (impactlens/models/detectors.py: YuNet faces, PP-OCR text
probability) once per image, as is; the mirrored training rows get the mirrored maps. Writes,
per set and input size (the backbone caches' layout), .cache/saliency/sem/<set>.<W>x<H>.map.npy,
float16 (rows, 2, H/8, W/8), so scripts/train_saliency.py --backbones lite0,sem reads them as
one more tap.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.media.image_io import decode_image  # noqa: E402
from impactlens.models.detectors import load_detectors  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
from saliency_features import CACHE, DATA, SETS  # noqa: E402

from impactlens.models.preprocess import saliency_size  # noqa: E402


def main() -> None:
    det = load_detectors(get_settings().model_dir, 2, read_text=False)
    out = CACHE / "sem"
    out.mkdir(parents=True, exist_ok=True)
    for set_name, (folder, names, _, mirrored) in SETS.items():
        if (out / f"{set_name}.names.json").exists():
            continue
        groups: dict[str, list[np.ndarray]] = {}
        members: dict[str, list[str]] = {}
        t0 = time.time()
        for i, name in enumerate(names):
            img = decode_image(DATA / folder / "images" / name, 200_000_000).image
            w, h = saliency_size(*img.size)
            faces, text = det.channel_maps(img, (h // 8, w // 8))
            m = np.stack([faces, text]).astype(np.float16)
            groups.setdefault(f"{w}x{h}", []).extend([m, m[:, :, ::-1]] if mirrored else [m])
            members.setdefault(f"{w}x{h}", []).append(name)
            if i % 100 == 0:
                print(f"sem/{set_name} {i}/{len(names)} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
        for size, rows in groups.items():
            np.save(out / f"{set_name}.{size}.map.npy", np.stack(rows))
            info = {"names": members[size], "mirrored": mirrored, "taps": ["map"]}
            (out / f"{set_name}.{size}.names.json").write_text(json.dumps(info))
        index = {"names": names, "mirrored": mirrored, "taps": ["map"], "sizes": sorted(groups)}
        (out / f"{set_name}.names.json").write_text(json.dumps(index))


if __name__ == "__main__":
    main()
