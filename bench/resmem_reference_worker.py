"""Runs the reference ResMem (the resmem package, torch + torchvision) on images.

Executed with the reference environment's interpreter (see bench/reference_env.sh), never
imported by impactlens. Prints one JSON object: {"scores": {name: score}, "seconds": {name: s}}.
With --serve [threads] it reads one image path per line from stdin and answers each with a JSON line
{"name", "score", "seconds"}, so that a benchmark can alternate it image by image with its
own models (both then see the same machine load).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from resmem import ResMem, transformer


def serve(threads: int = 0) -> None:
    if threads > 0:
        torch.set_num_threads(threads)
    model = ResMem(pretrained=True)
    model.eval()
    print(json.dumps({"torch": torch.__version__}), flush=True)
    with torch.inference_mode():
        for line in sys.stdin:
            p = line.strip()
            start = time.perf_counter()
            x = transformer(Image.open(p).convert("RGB")).view(-1, 3, 227, 227)
            score = float(model(x).item())
            seconds = time.perf_counter() - start
            print(json.dumps({"name": Path(p).name, "score": score, "seconds": seconds}), flush=True)


def main(paths: list[str]) -> None:
    torch.set_num_threads(int(torch.get_num_threads()))
    model = ResMem(pretrained=True)
    model.eval()
    scores: dict[str, float] = {}
    seconds: dict[str, float] = {}
    with torch.inference_mode():
        warm = transformer(Image.open(paths[0]).convert("RGB")).view(-1, 3, 227, 227)
        model(warm)
        for p in paths:
            start = time.perf_counter()
            x = transformer(Image.open(p).convert("RGB")).view(-1, 3, 227, 227)
            scores[Path(p).name] = float(model(x).item())
            seconds[Path(p).name] = time.perf_counter() - start
    json.dump({"scores": scores, "seconds": seconds, "torch": torch.__version__}, sys.stdout)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    else:
        main(sys.argv[1:])
