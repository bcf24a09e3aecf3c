"""Peak resident memory of the steps issue 10 found too hungry, each in its own subprocess.

    .venv/bin/python bench/memory.py [--side 9400] [--build]

- validate: decode_image() on a SIDE x SIDE 16-bit grey PNG (what the API runs on an upload);
- analyse: `analyze_paths` on it (decode, models, full-size saliency and heatmap PNGs);
- engine: loading the same models and analysing a 640x480 photograph: the floor under
  `analyse`, so the extra cost of the huge frame is analyse - engine;
- build (with --build): `impactlens models build --force` into a temporary model folder
  (about a minute and a half of CPU), as the build prints it.

Each figure is the subprocess's VmHWM. Last line:
`validate_mb=<a> analyse_mb=<b> engine_mb=<c> [build_mb=<d>]`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
PEAK = """
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print("peak_mb=%.0f" % (int(hwm.split()[1]) / 1024))
"""
VALIDATE = """
import sys
from impactlens.media.image_io import decode_image
decode_image(sys.argv[1], 100_000_000)
"""
ANALYSE = """
import sys
from impactlens.batch import analyze_paths
assert analyze_paths([sys.argv[1]], sys.argv[2], progress=False).ok
"""


def _peak(script: str, *args: str) -> tuple[float, float]:
    t = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script) + PEAK, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return float(done.stdout.strip().splitlines()[-1].removeprefix("peak_mb=")), time.perf_counter() - t


def ramp16(path: Path, side: int) -> None:
    row = np.linspace(0, 65535, side).astype(np.uint16)
    Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (side, side)))).save(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--side", type=int, default=9400)
    ap.add_argument("--build", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big, small, out = Path(tmp) / "big.png", Path(tmp) / "small.jpg", Path(tmp) / "out"
        ramp16(big, args.side)
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)).save(small)
        print(f"{args.side}x{args.side} 16-bit grey PNG, {big.stat().st_size / 1024:.0f} KB on disk")
        validate, tv = _peak(VALIDATE, str(big))
        print(f"validate: peak {validate:.0f} MB ({tv:.1f} s)")
        analyse, ta = _peak(ANALYSE, str(big), str(out))
        print(f"analyse:  peak {analyse:.0f} MB ({ta:.1f} s, outputs {Image.open(out / 'big.heatmap.png').size})")
        engine, te = _peak(ANALYSE, str(small), str(out))
        print(f"engine:   peak {engine:.0f} MB on a 640x480 photograph ({te:.1f} s)")
        line = f"validate_mb={validate:.0f} analyse_mb={analyse:.0f} engine_mb={engine:.0f}"
        if args.build:
            models = Path(tmp) / "models"
            t = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "impactlens.cli", "models", "build", "--force", "--model-dir", str(models)],
                capture_output=True,
                text=True,
                check=True,
            )
            own = [ln for ln in done.stderr.splitlines() if ln.startswith("peak resident memory")]
            build = float(own[-1].split(":")[1].split()[0])
            print(f"build:    peak {build:.0f} MB ({time.perf_counter() - t:.0f} s)")
            line += f" build_mb={build:.0f}"
    print(line)


if __name__ == "__main__":
    main()
