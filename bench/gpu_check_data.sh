#!/usr/bin/env bash
# Makes the captures bench/gpu_check.sh needs (Blender does not run on the GPU machine) and copies
# them into .gpu_data/ (ignored by git), which the device tool carries: dense_alpha of the
# reconstruction benchmark's held-out scene (seed 502) and sparse8.
#   bash bench/gpu_check_data.sh [WORK_DIR]      (default WORK_DIR: ./.gpu_data_work, also ignored)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WORK="${1:-.gpu_data_work}"
.venv/blender/bin/python bench/recon_capture.py "$WORK" --seed 502 --only dense_alpha sparse8
mkdir -p .gpu_data
for name in dense_alpha sparse8; do
  rm -rf ".gpu_data/$name"
  cp -r "$WORK/$name" ".gpu_data/$name"
done
du -sh .gpu_data
