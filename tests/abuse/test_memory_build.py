"""`impactlens models build` stays within a laptop's memory (issue 10, item 13).

The build used to keep every calibration photograph's intermediate activations (~160 MB
each) and three copies of the converted graph: 15 GB for the 64 photographs. A subprocess
converts ResMem and quantises it with 12 photographs (memory then no longer grows with the
count) and reports its own peak resident memory.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

LIMIT_MB = 3 * 1024

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from impactlens.models import build
    from impactlens.models.sources import RESMEM, package_file

    out = Path(sys.argv[1])
    build.convert_resmem(package_file(RESMEM), out / "fp32.onnx")
    build.quantise_resmem(out / "fp32.onnx", out / "int8.onnx", build.calibration_images()[:12])
    print(f"peak_mb={build.peak_rss_mb():.0f}")
    """
)


def test_models_build_converts_and_calibrates_within_3_gb(tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=900, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    peak = float(done.stdout.strip().splitlines()[-1].removeprefix("peak_mb="))
    assert (tmp_path / "int8.onnx").stat().st_size > 50_000_000
    assert peak <= LIMIT_MB, f"peak resident memory {peak:.0f} MB"
