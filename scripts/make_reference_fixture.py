"""Records the reference ResMem's outputs on 20 images that ship in the repo.

CI cannot install the reference (torch + torchvision, several GB), so the converted ONNX
models are tested against this small fixture instead. Re-run after changing the images:

    python scripts/make_reference_fixture.py   # creates .venv-ref via bench/reference_env.sh
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "resmem_reference.json"


def fixture_images() -> list[Path]:
    data = ROOT / "impactlens" / "data"
    return sorted((data / "samples").glob("*.jpg")) + sorted((data / "calibration").glob("*.jpg"))[:16]


def main() -> None:
    python = (
        subprocess.run(["bash", str(ROOT / "bench" / "reference_env.sh")], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    images = fixture_images()
    out = subprocess.run(
        [python, str(ROOT / "bench" / "resmem_reference_worker.py"), *map(str, images)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = json.loads(out)
    fixture = {
        "reference": f"resmem==1.1.6 with torch {result['torch']}, eval mode",
        "scores": {str(p.relative_to(ROOT)): result["scores"][p.name] for p in images},
    }
    FIXTURE.write_text(json.dumps(fixture, indent=2) + "\n")
    print(f"wrote {FIXTURE} ({len(images)} images)", file=sys.stderr)


if __name__ == "__main__":
    main()
