"""A small file with a huge frame stays within memory (issue 10, item 3).

A 9400x9400 16-bit grey PNG is a few hundred KB on disk and 88 million pixels decoded: it
took the API to 2.6 GB while validating and an analysis to 7-8.5 GB. Each check runs in a
subprocess that reports its own peak resident memory (VmHWM).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SIDE = 9400
ANALYSIS_LIMIT_MB = 1024
VALIDATION_LIMIT_MB = 400

PEAK = """
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print("peak_mb=%.0f" % (int(hwm.split()[1]) / 1024))
"""


@pytest.fixture(scope="module")
def big_png(tmp_path_factory) -> Path:
    """A smooth 16-bit ramp (every row the same): 88 MP that compress to under a megabyte."""
    path = tmp_path_factory.mktemp("big") / "ramp16.png"
    row = np.linspace(0, 65535, SIDE).astype(np.uint16)
    Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (SIDE, SIDE)))).save(path)
    assert path.stat().st_size < 2_000_000
    return path


def _peak(script: str, *args: str) -> tuple[float, str]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script) + "\n" + PEAK, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return float(lines[-1].removeprefix("peak_mb=")), "\n".join(lines[:-1])


def test_validating_a_huge_16_bit_png_stays_under_400_mb(big_png):
    peak, out = _peak(
        """
        import sys
        from impactlens.media.image_io import decode_image
        d = decode_image(sys.argv[1], 100_000_000)
        print(d.format, d.width, d.height, d.original_mode)
        """,
        str(big_png),
    )
    assert out == f"PNG {SIDE} {SIDE} I;16"
    assert peak <= VALIDATION_LIMIT_MB, f"peak resident memory {peak:.0f} MB"


def test_analysing_a_huge_16_bit_png_stays_under_1_gb_with_full_size_outputs(big_png, tmp_path):
    peak, _ = _peak(
        """
        import sys
        from impactlens.batch import analyze_paths
        batch = analyze_paths([sys.argv[1]], sys.argv[2], progress=False)
        assert batch.ok, batch.errors
        """,
        str(big_png),
        str(tmp_path),
    )
    assert peak <= ANALYSIS_LIMIT_MB, f"peak resident memory {peak:.0f} MB"
    with Image.open(tmp_path / "ramp16.saliency.png") as sal, Image.open(tmp_path / "ramp16.heatmap.png") as heat:
        assert sal.size == heat.size == (SIDE, SIDE)
        assert sal.mode.startswith("I;16") and heat.mode == "RGB"
        # The heatmap is drawn over the picture: a dark-to-light ramp left to right.
        small = np.asarray(heat.reduce(100).convert("L"), np.float64)
    assert small[:, -5:].mean() > small[:, :5].mean() + 40
