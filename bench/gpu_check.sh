#!/usr/bin/env bash
# Everything that needs a GPU, in one run that fits a short device lease; writes one table.
# See bench/gpu_check.py for the steps. Usage:
#   bash bench/gpu_check.sh --data DIR [--out FILE] [--dry]
# On the GPU machine (its python3 holds torch) with the captures carried in .gpu_data/ (made here by
# bench/gpu_check_data.sh):  bash bench/gpu_check.sh --data .gpu_data
# --dry runs every step on the CPU with token budgets (what CI runs, to prove the script starts).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY=python3
[ -x .venv/backend/bin/python ] && PY=.venv/backend/bin/python
exec "$PY" bench/gpu_check.py "$@"
