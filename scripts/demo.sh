#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the headless end-to-end demo in the real bpy:
#   .venv/blender/bin/python scripts/demo.py [arguments]
# It builds its own demo scene and leaves its results (a .blend, PLYs, an HTML report) in demo_out/.
# Arguments go to scripts/demo.py (see `bash scripts/demo.sh --help`).
# Environment: PS4PRO_GPU=auto|cpu|cuda is passed to setup.sh as --gpu.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh --gpu "${PS4PRO_GPU:-auto}"
if [ ! -f scripts/demo.py ]; then
  echo "demo.sh: scripts/demo.py is missing from this checkout" >&2
  exit 1
fi
# The backend the demo's operators start (the add-on preferences are empty in a fresh user folder).
export PS4PRO_PYTHON="${PS4PRO_PYTHON:-$ROOT/.venv/backend/bin/python}"
exec .venv/blender/bin/python scripts/demo.py "$@"
