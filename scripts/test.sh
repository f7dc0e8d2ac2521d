#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run both test suites, each in its own interpreter, as in real use;
# the Blender-side suite runs twice, on the main Blender and on the oldest supported one:
#   .venv/backend/bin/python   -m pytest tests/backend    (torch, no bpy)
#   .venv/blender/bin/python   -m pytest tests/blender    (the real bpy wheel: Blender 5.2 LTS)
#   .venv/blender42/bin/python -m pytest tests/blender    (Blender 4.2 LTS; PS4PRO_SKIP_BLENDER42=1 leaves it out)
#
# Usage: bash scripts/test.sh [pytest arguments]
#   Options (-k, -x, -v, ...) go to both runs; paths under tests/backend or tests/blender choose
#   which suite(s) run, e.g. `bash scripts/test.sh tests/blender/test_install.py -x`.
#   Tests marked `slow` are left out; `-m slow` (or `-m "slow or not slow"`) runs them.
# Environment: PS4PRO_GPU=auto|cpu|cuda is passed to setup.sh as --gpu; PS4PRO_SKIP_BLENDER42=1 skips
#   the Blender 4.2 run (and its environment in setup.sh).
# Exit status: 0 when no run failed. A suite that collects no tests is fine, unless none collects any.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1

bash scripts/setup.sh --gpu "${PS4PRO_GPU:-auto}" || { echo "[test] setup failed" >&2; exit 1; }

opts=()
backend_paths=()
blender_paths=()
for arg in "$@"; do
  case "${arg#./}" in
    tests/backend | tests/backend/*) backend_paths+=("${arg#./}") ;;
    tests/blender | tests/blender/*) blender_paths+=("${arg#./}") ;;
    *) opts+=("$arg") ;;
  esac
done
if [ ${#backend_paths[@]} -eq 0 ] && [ ${#blender_paths[@]} -eq 0 ]; then
  backend_paths=(tests/backend)
  blender_paths=(tests/blender)
fi

REPORTS="$(mktemp -d)"
trap 'rm -rf "$REPORTS"' EXIT
suites=() # "name exit-status seconds" for each run

run_suite() {
  local name="$1" python="$2" start=$SECONDS rc
  shift 2
  echo "[test] ===== $name: $python -m pytest -q -m \"not slow\" ${opts[*]+${opts[*]} }$*"
  # -m "not slow" comes first, so that a -m of the caller's (pytest keeps the last) replaces it.
  "$python" -m pytest -q -m "not slow" --junitxml="$REPORTS/$name.xml" ${opts[@]+"${opts[@]}"} "$@"
  rc=$?
  suites+=("$name $rc $((SECONDS - start))")
}

[ ${#backend_paths[@]} -eq 0 ] || run_suite backend .venv/backend/bin/python "${backend_paths[@]}"
[ ${#blender_paths[@]} -eq 0 ] || run_suite blender .venv/blender/bin/python "${blender_paths[@]}"
if [ ${#blender_paths[@]} -gt 0 ] && [ "${PS4PRO_SKIP_BLENDER42:-0}" != 1 ]; then
  run_suite blender42 .venv/blender42/bin/python "${blender_paths[@]}"
fi

# One combined line from the runs' JUnit reports (a run that died without one counts as a failure).
.venv/backend/bin/python - "$REPORTS" "${suites[@]}" <<'EOF'
import sys
import xml.etree.ElementTree as ET

reports, runs = sys.argv[1], sys.argv[2:]
total = {"passed": 0, "failed": 0, "skipped": 0}
parts = []
for run in runs:
    name, rc, seconds = run.split()
    try:
        root = ET.parse(f"{reports}/{name}.xml").getroot()
    except (OSError, ET.ParseError):
        total["failed"] += 1
        why = f"killed by signal {int(rc) - 128}" if int(rc) > 128 else f"exit status {rc}"
        parts.append(f"{name}: died ({why}) before writing its report; see its output above")
        continue
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        for key in n:
            n[key] += int(suite.get(key, 0))
    failed = n["failures"] + n["errors"]
    passed = n["tests"] - failed - n["skipped"]
    total["passed"] += passed
    total["failed"] += failed
    total["skipped"] += n["skipped"]
    parts.append(f"{name}: {passed} passed, {failed} failed, {n['skipped']} skipped in {seconds}s")
print("[test] " + "; ".join(parts))
print(f"[test] {total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
EOF

# pytest's exit status 5 is "no tests collected": a failure only when no run collected any.
status=0
all_empty=1
for run in "${suites[@]}"; do
  read -r name rc _ <<<"$run"
  [ "$rc" -eq 5 ] || all_empty=0
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then
    status=1
  fi
done
if [ "$all_empty" -eq 1 ]; then
  echo "[test] no tests were collected" >&2
  status=5
fi
exit "$status"
