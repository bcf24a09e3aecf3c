"""Imports every handler the template names (ImageConfig.Command), inside the built image.

Run by the deploy workflow as the image's Python; no YAML library needed (the image has none).
Usage: python check_handlers.py TEMPLATE  -> prints the handlers, exit 1 if any is missing.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path


def handlers(template: str) -> list[str]:
    return sorted(set(re.findall(r'Command:\s*\[\s*"([\w.]+)"\s*\]', template)))


def main(path: str) -> int:
    names = handlers(Path(path).read_text())
    missing = []
    for name in names:
        module, func = name.rsplit(".", 1)
        if not callable(getattr(importlib.import_module(module), func, None)):
            missing.append(name)
    print("\n".join(names))
    if missing or not names:
        print(f"missing handlers: {missing or 'none found'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
