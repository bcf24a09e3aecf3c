"""Builds the reference distribution behind the memorability percentile.

Scores all 500 NUS scene photographs (real, varied natural scenes) with the fp32 ResMem
model and stores the sorted scores in impactlens/models/weights/memorability_reference.json.
A percentile of p means the asset scores above p% of these photographs.

    .venv/bin/python scripts/make_memorability_reference.py [--data ../shared/data/nus-scene]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.media.image_io import decode_image  # noqa: E402
from impactlens.models.runtime import load_memorability  # noqa: E402
from impactlens.settings import get_settings  # noqa: E402

OUT = ROOT / "impactlens" / "models" / "weights" / "memorability_reference.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "nus-scene")
    args = ap.parse_args()
    s = get_settings()
    model = load_memorability(s.memorability_model, "fp32", s.model_dir)
    images = sorted((args.data / "images").glob("*.jpg"))
    scores = sorted(model.predict(decode_image(p, 200_000_000).image)[0] for p in images)
    OUT.write_text(
        json.dumps(
            {
                "description": "ResMem fp32 scores of the 500 NUS scene photographs (Liang et al. 2015), sorted",
                "model": "resmem-1.1.6 fp32",
                "scores": [round(x, 6) for x in scores],
            },
            indent=0,
        )
        + "\n"
    )
    print(f"{len(scores)} scores, median {scores[len(scores) // 2]:.3f} -> {OUT}")


if __name__ == "__main__":
    main()
