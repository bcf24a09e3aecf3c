"""Reader for fixation tables (image, subject, x, y, ...; NUS also start_s, duration_s)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np


def load_fixations(
    csv_path: Path, max_start_s: float | None = None, one_based: bool = True
) -> dict[str, np.ndarray]:
    """Image name -> (N, 2) array of 0-based (x, y); optionally only fixations starting before a time.

    NUS tables are 1-based (MATLAB); OSIE's are already 0-based (``one_based=False``).
    """
    shift = 1.0 if one_based else 0.0
    points: dict[str, list[tuple[float, float]]] = defaultdict(list)
    with csv_path.open() as fh:
        for row in csv.DictReader(fh):
            if max_start_s is not None and float(row["start_s"]) >= max_start_s:
                continue
            points[row["image"]].append((float(row["x"]) - shift, float(row["y"]) - shift))
    return {k: np.array(v) for k, v in points.items()}
