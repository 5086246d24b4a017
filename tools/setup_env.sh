#!/usr/bin/env bash
# Set up everything ssod needs, from nothing, in one idempotent command.
#
#   bash tools/setup_env.sh            (what `make setup`, `make test` and `make demo` run)
#
# Which Python is used:
#   * $SSOD_PYTHON if set (an interpreter path; the Dockerfile uses this);
#   * else the active virtual environment ($VIRTUAL_ENV) if there is one;
#   * else a virtual environment at .venv in the repository root, created if missing.
#
# What it does:
#   1. checks the Python version (3.9 - 3.12);
#   2. keeps a torch that is already importable (e.g. your CUDA build) if its version is one mmcv 2.1.0
#      builds against; otherwise installs the CPU build torch==2.13.0;
#   3. compiles mmcv==2.1.0 with its ops from source (6-11 minutes on 2 cores; pip caches the wheel,
#      so later runs on the same machine reuse it);
#   4. installs mmdet, mmengine, pycocotools, numpy, the test tools, and ssod itself in editable mode.
# A second run on a ready environment only checks the imports and finishes in seconds.
#
# Environment knobs: SSOD_PYTHON, SSOD_SKIP_TORCH_CHECK=1 (build mmcv against an untested torch at your
# own risk), MAX_JOBS (parallel compile jobs, default: number of cores), FORCE_CUDA / TORCH_CUDA_ARCH_LIST
# (passed through to mmcv's build, e.g. when building a CUDA image on a machine without a GPU).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TORCH_CPU_PIN="torch==2.13.0"
# mmcv 2.1.0 compiles against torch 1.8 or newer; 2.13 is the newest release it was built and tested
# with here. Bounds are [min, max) on the numeric major.minor version.
TORCH_MIN="1.8"
TORCH_MAX_EXCLUSIVE="2.14"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- interpreter
if [[ -n "${SSOD_PYTHON:-}" ]]; then
    PY="$SSOD_PYTHON"
    log "using SSOD_PYTHON=$PY"
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
    PY="$VIRTUAL_ENV/bin/python"
    log "using the active virtual environment $VIRTUAL_ENV"
else
    BASE_PY="$(command -v python3 || true)"
    [[ -n "$BASE_PY" ]] || die "python3 not found on PATH. Install Python 3.9-3.12 and run again."
    if [[ ! -x .venv/bin/python ]]; then
        "$BASE_PY" "$ROOT/tools/check_python.py" \
            || die "cannot create .venv with $BASE_PY (see above)."
        log "creating virtual environment .venv with $BASE_PY"
        "$BASE_PY" -m venv .venv || die "'$BASE_PY -m venv .venv' failed; install the venv module (e.g. apt-get install python3-venv)."
    fi
    PY="$ROOT/.venv/bin/python"
fi
[[ -x "$PY" ]] || die "interpreter '$PY' is not executable."
"$PY" "$ROOT/tools/check_python.py" || exit 1

PIP=("$PY" -m pip)

# ---------------------------------------------------------------- fast path
# The stamp records the hash of every file that decides what gets installed. If it matches and the
# key imports work, there is nothing to do.
STAMP_DIR="$("$PY" -c 'import sys; print(sys.prefix)')"
STAMP="$STAMP_DIR/.ssod-setup-stamp"
STAMP_INPUTS=(tools/setup_env.sh tools/check_python.py requirements.txt requirements/*.txt pyproject.toml)
WANT_STAMP="$(cat "${STAMP_INPUTS[@]}" | sha256sum | cut -d' ' -f1)"
imports_ok() {
    "$PY" - <<'EOF' >/dev/null 2>&1
import mmcv, mmcv.ops, mmdet, mmengine, pycocotools, ssod, pytest  # noqa: F401
from mmcv.ops import nms, RoIAlign  # noqa: F401
EOF
}
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT_STAMP" ]] && imports_ok; then
    log "environment is ready ($PY); nothing to do."
    exit 0
fi

# ---------------------------------------------------------------- torch
torch_version="$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)"
if [[ -n "$torch_version" ]]; then
    log "found torch $torch_version; keeping it."
    if [[ "${SSOD_SKIP_TORCH_CHECK:-0}" != "1" ]]; then
        "$PY" - "$torch_version" "$TORCH_MIN" "$TORCH_MAX_EXCLUSIVE" <<'EOF' || exit 1
import re, sys
found, low, high = sys.argv[1:4]
def key(v):
    major, minor = re.match(r"(\d+)\.(\d+)", v).groups()
    return int(major), int(minor)
if not key(low) <= key(found) < key(high):
    sys.stderr.write(
        f"[setup] ERROR: torch {found} is outside the range mmcv 2.1.0 is built against here "
        f"(>= {low}, < {high}).\n"
        f"[setup]   Install a torch in that range (e.g. 'pip install torch==2.13.0' for CPU, or a CUDA "
        f"build of 2.x <= 2.13),\n"
        f"[setup]   or set SSOD_SKIP_TORCH_CHECK=1 to try building mmcv against torch {found} anyway.\n")
    sys.exit(1)
EOF
    fi
else
    log "no torch importable; installing the CPU build $TORCH_CPU_PIN"
    "${PIP[@]}" install "$TORCH_CPU_PIN"
fi

# ---------------------------------------------------------------- build tools + mmcv
log "installing build tools"
"${PIP[@]}" install -r requirements/build.txt
if "$PY" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' >/dev/null 2>&1; then
    log "mmcv 2.1.0 with ops already installed."
else
    jobs="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}"
    log "building mmcv 2.1.0 with ops from source (MAX_JOBS=$jobs; 6-11 min on 2 cores, cached afterwards)"
    MMCV_WITH_OPS=1 MAX_JOBS="$jobs" "${PIP[@]}" install --no-build-isolation -r requirements/mmcv.txt
fi

# ---------------------------------------------------------------- the rest
log "installing mmdet, mmengine and the test tools"
"${PIP[@]}" install -r requirements/runtime.txt -r requirements/tests.txt
log "installing ssod (editable)"
"${PIP[@]}" install --no-deps --no-build-isolation -e .

imports_ok || {
    "$PY" -c 'import mmcv, mmcv.ops, mmdet, mmengine, pycocotools, ssod' || true
    die "the environment was installed but the imports above fail."
}
echo "$WANT_STAMP" > "$STAMP"
log "done: $("$PY" -c 'import torch, mmcv, mmdet, mmengine, ssod; print(f"torch {torch.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmengine {mmengine.__version__}, ssod {ssod.__version__}")')"
