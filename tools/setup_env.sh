#!/usr/bin/env bash
# One-command installation of the OpenMMLab 2.x stack plus mmvitplug into ./.venv.
#
#   bash tools/setup_env.sh          (what `make setup` runs)
#
# Steps (each one is skipped when already satisfied, so a second run takes seconds):
#   1. Python 3.11 virtual environment in $VENV (default .venv)
#   2. torch / torchvision (CUDA builds; they run on CPU too)
#   3. mmcv 2.1.0 with compiled ops, built from the PyPI sdist and cached as a wheel keyed by the
#      torch and Python versions (mmdet 3.3 / mmseg 1.2 need mmcv < 2.2, and no binary wheel
#      of mmcv 2.1 matches torch 2.14; its setup.py hard-codes -std=c++14/17 while torch 2.14
#      headers need C++20, so the flag is rewritten before the build). tools/mmcv_build.py
#      decides the ops: CPU ops where torch sees no CUDA device; CUDA ops for the devices'
#      architectures where it sees one and nvcc is found (the cache key then names the CUDA
#      flavour); a message and a stop on a CUDA machine without a compiler. After installing,
#      RoIAlign and NMS must run on the device that will train.
#   4. mmengine, mmdet, mmsegmentation, mmpretrain, setuptools with pkg_resources, ONNX export,
#      onnxruntime and OpenVINO, test tools
#   5. mmvitplug itself in editable mode
#
# Environment: VENV, PYTHON (interpreter used to create the venv), MMVITPLUG_CACHE (wheel cache,
# default ~/.cache/mmvitplug), MAX_JOBS (parallel compile jobs for mmcv), MMVITPLUG_MMCV_WHEEL
# (a prebuilt mmcv 2.1.0 wheel to install instead of building one).
set -Eeuo pipefail

TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
# setuptools: mmengine resolves `mmdet::` / `mmseg::` / `mmpretrain::` base configs through
# pkg_resources, which setuptools 81 removed; torch needs >= 77.0.3.
# onnx / onnxruntime / onnxscript: tools/deployment/pytorch2onnx.py and its tests (onnxscript is
# what torch's dynamo-based ONNX exporter needs).
# openvino: the second CPU runtime the exported graphs are checked in (mmvitplug/utils/runtimes.py,
# tests/test_openvino.py).
# Every entry is pinned: step 4 re-runs in an existing environment whenever one of them is missing
# or at another version, so a package added here reaches old environments on the next run.
MM_PACKAGES=(mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 mmpretrain==1.2.0
             setuptools==80.10.2 onnx==1.23.2 onnxruntime==1.32.0 onnxscript==0.7.2
             openvino==2026.4.1)
# numpy<2: mmcv 2.1 / mmdet 3.3 / mmseg 1.2 predate numpy 2, and opencv-python 4.12+ needs
# numpy>=2 (mmcv's and mmengine's wheels require opencv-python, not the headless build).
# pytest-xdist: `make test` runs the suite on one worker per core (it is mostly one-core work:
# imports, subprocesses, small models).
EXTRA_PACKAGES=("numpy<2" "opencv-python<4.12" ftfy regex pytest matplotlib
                "hypothesis>=6.100,<7" "pytest-xdist>=3.5,<4")
# Modules of EXTRA_PACKAGES added since the first release: their absence re-runs step 4 in an
# existing environment.
EXTRA_MODULES="hypothesis, xdist"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
[[ "$VENV" == /* ]] || VENV="$PWD/$VENV"  # absolute: some checks run from another folder
PYTHON="${PYTHON:-python3.11}"
CACHE="${MMVITPLUG_CACHE:-$HOME/.cache/mmvitplug}"
LOG_DIR="$VENV/setup-logs"
START=$SECONDS

say() { printf '[setup %4ds] %s\n' "$((SECONDS - START))" "$*"; }
CURRENT_STEP="start"
CURRENT_LOG=""
on_error() {
    local rc=$?
    # Subshells exit quietly; the main shell reports once.
    [[ $BASH_SUBSHELL -gt 0 ]] && exit "$rc"
    echo "" >&2
    echo "[setup] FAILED during: $CURRENT_STEP (exit code $rc)" >&2
    if [[ -n "$CURRENT_LOG" && -f "$CURRENT_LOG" ]]; then
        echo "[setup] last 40 lines of $CURRENT_LOG:" >&2
        tail -n 40 "$CURRENT_LOG" | sed 's/^/    /' >&2
    fi
    exit "$rc"
}
trap on_error ERR

# run_logged NAME CMD...: run a step, its output going to a log file that is shown on failure.
run_logged() {
    local name="$1"; shift
    CURRENT_STEP="$name"
    CURRENT_LOG="$LOG_DIR/$name.log"
    "$@" >"$CURRENT_LOG" 2>&1
    CURRENT_LOG=""
}

# ---------------------------------------------------------------- 1. virtual environment
CURRENT_STEP="create the virtual environment"
if [[ ! -x "$VENV/bin/python" ]]; then
    command -v "$PYTHON" >/dev/null || { echo "[setup] $PYTHON not found: install Python 3.11 or set PYTHON=" >&2; exit 1; }
    say "creating Python 3.11 virtual environment at $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "[setup] $VENV is not a Python 3.11 environment; remove it and re-run" >&2; exit 1; }
mkdir -p "$LOG_DIR" "$CACHE/wheels"
PIP=("$PY" -m pip --disable-pip-version-check)

# Fast path: nothing to do when this script and setup.py are unchanged since the last complete run
# and the environment still imports.
STAMP="$VENV/.mmvitplug-setup-stamp"
FINGERPRINT="$(cat "$ROOT/tools/setup_env.sh" "$ROOT/setup.py" | sha256sum | cut -d' ' -f1) $ROOT"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$FINGERPRINT" ]] \
        && (cd / && "$PY" -c 'import mmcv, mmengine, mmvitplug') 2>/dev/null; then
    say "environment in $VENV is up to date (delete $STAMP to force a re-check)"
    exit 0
fi

installed() {  # installed DIST==VERSION ... : true when every pinned distribution is present
    "$PY" - "$@" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        sys.exit(1)
    if have.split("+")[0] != want:
        sys.exit(1)
PYEOF
}

# ---------------------------------------------------------------- 2. torch
if installed "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"; then
    say "torch $TORCH_VERSION / torchvision $TORCHVISION_VERSION already installed"
else
    say "installing torch==$TORCH_VERSION torchvision==$TORCHVISION_VERSION (about 2 minutes)"
    run_logged pip-torch "${PIP[@]}" install "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# ---------------------------------------------------------------- 3. mmcv
CURRENT_STEP="decide how to build mmcv (tools/mmcv_build.py plan)"
MMCV_SETTINGS="$("$PY" "$ROOT/tools/mmcv_build.py" plan)"
eval "$MMCV_SETTINGS"
if installed "mmcv==$MMCV_VERSION" && "$PY" "$ROOT/tools/mmcv_build.py" check >/dev/null 2>&1; then
    say "mmcv $MMCV_VERSION with ops for this machine already installed"
else
    KEY="$MMCV_KEY"
    WHEEL_DIR="$CACHE/wheels/mmcv-$MMCV_VERSION-$KEY"
    WHEEL="$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n 1 || true)"
    if [[ "$MMCV_FLAVOUR" == prebuilt ]]; then
        WHEEL="$MMVITPLUG_MMCV_WHEEL"
        say "$MMCV_PLAN"
    elif [[ -z "$WHEEL" ]]; then
        # Build tools; setuptools<70 because mmcv's setup.py imports pkg_resources (torch's own
        # setuptools>=77 requirement is restored by step 4).
        say "installing build tools (setuptools<70, wheel, ninja)"
        run_logged pip-buildtools "${PIP[@]}" install "setuptools<70" wheel ninja
        BUILD="$(mktemp -d)"
        say "fetching the mmcv $MMCV_VERSION sdist"
        run_logged mmcv-download "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation \
            "mmcv==$MMCV_VERSION" -d "$BUILD"
        tar -xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
        SRC="$BUILD/mmcv-$MMCV_VERSION"
        # torch >= 2.10 headers use C++20 features.
        sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
        grep -q -- '-std=c++20' "$SRC/setup.py" || { echo "[setup] could not set -std=c++20 in mmcv setup.py" >&2; exit 1; }
        JOBS="${MAX_JOBS:-$(nproc)}"
        say "$MMCV_PLAN: mmcv $MMCV_VERSION, $JOBS jobs, once per machine, then cached"
        say "  build log: $LOG_DIR/mmcv-build.log"
        # Heartbeat so long builds show progress.
        ( while sleep 60; do
              last=$(grep -o -E '^\s*\[[0-9]+/[0-9]+\]' "$LOG_DIR/mmcv-build.log" 2>/dev/null \
                     | tail -n 1 | tr -d ' ' || true)
              say "  ... still building mmcv (compile step ${last:-?})"
          done ) &
        HEARTBEAT=$!
        trap 'kill $HEARTBEAT 2>/dev/null || true' EXIT
        pushd "$SRC" >/dev/null
        # -g0: Python's sysconfig flags carry -g, and debug info for torch's template-heavy
        # headers is half of the compile time (measured per file: roi_align 31 s -> 14 s,
        # pybind 133 s -> 78 s). The optimisation level (-O3) stays, so the ops are unchanged.
        BUILD_ENV=(MMCV_WITH_OPS=1 FORCE_CUDA="$MMCV_FORCE_CUDA" MAX_JOBS="$JOBS"
                   CFLAGS="${CFLAGS:-} -g0")
        [[ -n "$MMCV_ARCH_LIST" ]] && BUILD_ENV+=(TORCH_CUDA_ARCH_LIST="$MMCV_ARCH_LIST")
        run_logged mmcv-build env "${BUILD_ENV[@]}" \
            "${PIP[@]}" wheel -v --no-deps --no-build-isolation -w "$BUILD/dist" .
        popd >/dev/null
        kill "$HEARTBEAT" 2>/dev/null || true
        mkdir -p "$WHEEL_DIR"
        cp "$BUILD"/dist/mmcv-"$MMCV_VERSION"-*.whl "$WHEEL_DIR/"
        rm -rf "$BUILD"
        WHEEL="$(ls "$WHEEL_DIR"/mmcv-"$MMCV_VERSION"-*.whl | head -n 1)"
        say "cached mmcv wheel: $WHEEL"
    else
        say "using cached mmcv wheel $WHEEL"
    fi
    run_logged pip-mmcv "${PIP[@]}" install "${EXTRA_PACKAGES[@]}" "$WHEEL"
    CURRENT_STEP="check mmcv ops on the device that will train (tools/mmcv_build.py check)"
    "$PY" "$ROOT/tools/mmcv_build.py" check \
        || { echo "[setup] mmcv installed but its compiled ops do not run on this machine's training device" >&2; exit 1; }
fi

# ---------------------------------------------------------------- 4. OpenMMLab packages
if installed "${MM_PACKAGES[@]}" && "$PY" -c "import $EXTRA_MODULES" 2>/dev/null; then
    say "OpenMMLab packages already installed"
else
    say "installing ${MM_PACKAGES[*]}"
    run_logged pip-openmmlab "${PIP[@]}" install "${MM_PACKAGES[@]}" "${EXTRA_PACKAGES[@]}" \
        "mmcv==$MMCV_VERSION" "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION"
fi

# ---------------------------------------------------------------- 5. mmvitplug
# (checked from / so that the repository itself is not on sys.path)
if (cd / && "$PY" -c 'import mmvitplug, sys; from pathlib import Path; sys.exit(Path(mmvitplug.__file__).resolve().parents[1] != Path(sys.argv[1]).resolve())' "$ROOT") 2>/dev/null; then
    say "mmvitplug already installed (editable) from $ROOT"
else
    say "installing mmvitplug (editable)"
    run_logged pip-mmvitplug "${PIP[@]}" install --no-build-isolation -e "$ROOT"
fi

CURRENT_STEP="final import check"
(cd / && "$PY" -c 'import torch, torchvision, mmcv, mmcv.ops, mmengine, mmdet, mmseg, mmpretrain, mmvitplug, mmpretrain.models, mmdet.models, mmseg.models') \
    || { echo "[setup] the installed stack does not import" >&2; exit 1; }
say "done: $("$PY" -c 'import torch, mmcv, mmdet, mmseg, mmpretrain, mmengine; print(f"torch {torch.__version__}, mmengine {mmengine.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}, mmpretrain {mmpretrain.__version__}")')"
echo "$FINGERPRINT" > "$STAMP"
