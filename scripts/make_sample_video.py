"""Makes impactlens/data/samples/sample-spot.mp4: a 6-second 480x270 H.264 clip drawn here
(moving shapes, a caption, a bright 'product' box entering at 2 s) for the demo and first run."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.video_cases import scene, write_video  # noqa: E402

if __name__ == "__main__":
    out = ROOT / "impactlens" / "data" / "samples" / "sample-spot.mp4"
    write_video(out, seconds=6.0, fps=25, size=(480, 270), frame=scene(480, 270, enter_s=2.0), faststart=True)
    print(out, out.stat().st_size)
