"""Writes impactlens/data/reference/elements.json: the reference set for focus and clutter.

The reference set is the bundled calibration photographs (impactlens/data/calibration, NUS
scene images). For each we compute the saliency grid's focus with the configured saliency
model, and the three raw clutter features; the clutter normalisers are the features'
medians, and clutter is the mean of the normalised features (engine/elements.py). Rerun it
whenever the saliency model or the clutter definition changes:

    .venv/bin/python scripts/make_element_reference.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from PIL import Image

from impactlens.engine.elements import CLUTTER_FEATURES, clutter_features, clutter_from_features, focus
from impactlens.models.build import calibration_images
from impactlens.models.registry import get_spec, read_manifest
from impactlens.models.runtime import load_saliency
from impactlens.settings import Settings

OUT = Path(__file__).resolve().parents[1] / "impactlens" / "data" / "reference" / "elements.json"


def main() -> None:
    s = Settings()
    saliency = load_saliency(s.saliency_model, "fp32", s.model_dir, s.threads)
    images = calibration_images()
    focus_values, features = [], []
    for path in images:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        grid, _ = saliency.predict(rgb)
        focus_values.append(focus(grid))
        features.append(clutter_features(rgb))
    norms = {k: statistics.median(f[k] for f in features) for k in CLUTTER_FEATURES}
    clutter = [clutter_from_features(f, norms) for f in features]
    spec = get_spec(s.saliency_model, "fp32")
    data = {
        "about": "Reference distributions for focus and clutter; made by scripts/make_element_reference.py",
        "images": f"impactlens/data/calibration ({len(images)} NUS scene photographs)",
        "saliency_model": spec.name,
        "saliency_sha256": read_manifest(s.model_dir).get(spec.filename, {}).get("sha256"),
        "clutter_norms": {k: round(v, 6) for k, v in norms.items()},
        "focus": sorted(round(v, 6) for v in focus_values),
        "clutter": sorted(round(v, 6) for v in clutter),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    medians = f"focus median {statistics.median(focus_values):.3f}, clutter median {statistics.median(clutter):.3f}"
    print(f"wrote {OUT}: {medians}")


if __name__ == "__main__":
    main()
