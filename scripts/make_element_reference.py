"""Writes impactlens/data/reference/elements.json: the reference set for focus and clutter.

The reference set is the bundled calibration photographs (impactlens/data/calibration, NUS
scene images). For each we compute the three raw clutter features and, with every saliency
model built in the model directory, the focus of its grid (focus depends on the model, so
its reference is kept per model). The clutter normalisers are the features' medians, and
clutter is the mean of the normalised features (engine/map_measures.py). Rerun it whenever a
saliency model is added or retrained, or the clutter definition changes:

    .venv/bin/python scripts/make_element_reference.py
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from PIL import Image

from impactlens.engine.elements import CLUTTER_FEATURES, clutter_features, clutter_from_features, focus
from impactlens.models.build import calibration_images
from impactlens.models.registry import SPECS, read_manifest
from impactlens.models.runtime import load_saliency
from impactlens.settings import Settings

OUT = Path(__file__).resolve().parents[1] / "impactlens" / "data" / "reference" / "elements.json"


def main() -> None:
    s = Settings()
    manifest = read_manifest(s.model_dir)
    # fp32 builds: one reference per model name (its INT8 build's maps have CC 0.995 with them).
    models = [m for m in SPECS.values() if m.task == "saliency" and m.variant == "fp32" and m.filename in manifest]
    images = []
    for path in calibration_images():
        with Image.open(path) as im:
            images.append(im.convert("RGB"))
    features = [clutter_features(im) for im in images]
    norms = {k: statistics.median(f[k] for f in features) for k in CLUTTER_FEATURES}
    clutter = [clutter_from_features(f, norms) for f in features]
    focus_by_model, hashes = {}, {}
    for spec in models:
        saliency = load_saliency(spec.name, spec.variant, s.model_dir, s.threads)
        focus_by_model[spec.name] = sorted(round(focus(saliency.predict(im)[0]), 6) for im in images)
        hashes[spec.name] = manifest[spec.filename]["sha256"]
    data = {
        "about": "Reference distributions for focus and clutter; made by scripts/make_element_reference.py",
        "images": f"impactlens/data/calibration ({len(images)} NUS scene photographs)",
        "saliency_sha256": hashes,
        "clutter_norms": {k: round(v, 6) for k, v in norms.items()},
        "focus": focus_by_model,
        "clutter": sorted(round(v, 6) for v in clutter),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(data, indent=1) + "\n")
    medians = ", ".join(f"focus median {statistics.median(v):.3f} ({k})" for k, v in focus_by_model.items())
    print(f"wrote {OUT}: {medians}, clutter median {statistics.median(clutter):.3f}")


if __name__ == "__main__":
    main()
