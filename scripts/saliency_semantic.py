"""Face and text maps of the saliency training and test images, for the "semantic channels" experiment.

    .venv/bin/python scripts/saliency_semantic.py

Runs the product's detectors (impactlens/models/detectors.py: YuNet faces, PP-OCR text
probability) once per image, as is; the mirrored training rows get the mirrored maps. Writes
.cache/saliency/sem/<set>.map.npy, float16 (rows, 2, 48, 64), next to the backbone caches, so
scripts/train_saliency.py --backbones lite0,sem reads them as one more tap.
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
from saliency_features import CACHE, DATA, GRID, SETS  # noqa: E402


def main() -> None:
    det = load_detectors(get_settings().model_dir, 2, read_text=False)
    out = CACHE / "sem"
    out.mkdir(parents=True, exist_ok=True)
    for set_name, (folder, names, _, mirrored) in SETS.items():
        if (out / f"{set_name}.names.json").exists():
            continue
        rows = []
        t0 = time.time()
        for i, name in enumerate(names):
            img = decode_image(DATA / folder / "images" / name, 200_000_000).image
            faces, text = det.channel_maps(img, GRID)
            m = np.stack([faces, text]).astype(np.float16)
            rows += [m, m[:, :, ::-1]] if mirrored else [m]
            if i % 100 == 0:
                print(f"sem/{set_name} {i}/{len(names)} {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
        np.save(out / f"{set_name}.map.npy", np.stack(rows))
        (out / f"{set_name}.names.json").write_text(json.dumps({"names": names, "mirrored": mirrored, "taps": ["map"]}))


if __name__ == "__main__":
    main()
