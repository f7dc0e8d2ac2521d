#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run the headless end-to-end demo in the real bpy:
#   .venv/blender/bin/python scripts/demo.py [arguments]
# It builds its own demo scene and leaves its results (a .blend, PLYs, an HTML report) in demo_out/.
# Arguments go to scripts/demo.py (see `bash scripts/demo.sh --help`).
# Environment: PS4PRO_GPU=auto|cpu|cuda is passed to setup.sh as --gpu.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# The demo runs on the main Blender only: the Blender 4.2 test environment is left to scripts/test.sh.
PS4PRO_SKIP_BLENDER42="${PS4PRO_SKIP_BLENDER42:-1}" bash scripts/setup.sh --gpu "${PS4PRO_GPU:-auto}"
if [ ! -f scripts/demo.py ]; then
  echo "demo.sh: scripts/demo.py is missing from this checkout" >&2
  exit 1
fi
# The backend the demo's operators start (the add-on preferences are empty in a fresh user folder).
export PS4PRO_PYTHON="${PS4PRO_PYTHON:-$ROOT/.venv/backend/bin/python}"
exec .venv/blender/bin/python scripts/demo.py "$@"
