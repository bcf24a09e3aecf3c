"""Reader for fixation tables (image, subject, x, y, start_s, duration_s; 1-based pixels)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np


def load_fixations(csv_path: Path, max_start_s: float | None = None) -> dict[str, np.ndarray]:
    """Image name -> (N, 2) array of 0-based (x, y); optionally only fixations starting before a time."""
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with csv_path.open() as fh:
        for row in csv.DictReader(fh):
            if max_start_s is not None and float(row["start_s"]) >= max_start_s:
                continue
            points[row["image"]].append((float(row["x"]) - 1.0, float(row["y"]) - 1.0))
    return {k: np.array(v) for k, v in points.items()}
