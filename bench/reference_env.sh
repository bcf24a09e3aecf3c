#!/usr/bin/env bash
# Creates the reference environment for the benchmarks: the resmem package with the torch
# and torchvision it was written for. It is large (several GB) and never used by impactlens.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=${REF_VENV:-.venv-ref}
if [ ! -x "$REF/bin/python" ] || ! "$REF/bin/python" -c "import resmem, torchvision" 2>/dev/null; then
  python3 -m venv "$REF"
  "$REF/bin/pip" install -q torch==2.14.1 torchvision==0.29.1 pillow numpy
  "$REF/bin/pip" install -q --no-deps resmem==1.1.6
fi
echo "$REF/bin/python"
