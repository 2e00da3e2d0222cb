#!/usr/bin/env bash
# Create (or bring up to date) .venv in the repository root with the tested
# stack from requirements/constraints.txt, and install ssdkd_mm editable.
# Work already done is skipped, so running it again is cheap.
#
# Usage: bash tools/setup_env.sh [--with-data] [--only venv|data]
#   --with-data   also install Fashion-MNIST (Debian package
#                 dataset-fashion-mnist, files under
#                 /usr/share/datasets/fashion-mnist)
#   --only venv   only the virtual environment and its packages
#   --only data   only the data (needs root or sudo only when it is missing)
# Environment: PYTHON (default python3) creates the virtual environment;
# FASHION_MNIST_DIR (default /usr/share/datasets/fashion-mnist).
# Without python3-venv (Debian): as root it is installed with apt-get, else
# the venv is made --without-pip and pip comes from the system's pip or
# virtualenv.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

WITH_DATA=0
ONLY=""
while [ $# -gt 0 ]; do
    case "$1" in
        --with-data) WITH_DATA=1 ;;
        --only) ONLY="${2:-}"; shift
            case "$ONLY" in venv|data) ;; *)
                echo "[setup_env] --only takes venv or data" >&2; exit 2;;
            esac ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "[setup_env] unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
[ "$ONLY" = data ] && WITH_DATA=1
[ "$ONLY" = venv ] && WITH_DATA=0

log() { echo "[setup_env] $*"; }
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else
        echo "[setup_env] needs root to run: $* (run as root, or install" \
             "it yourself)" >&2
        return 1
    fi
}
FASHION_MNIST_DIR="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
install_data() {
    if [ -d "$FASHION_MNIST_DIR" ] && [ -n "$(ls -A "$FASHION_MNIST_DIR")" ]
    then
        log "Fashion-MNIST already in $FASHION_MNIST_DIR"
        return 0
    fi
    log "installing dataset-fashion-mnist with apt-get"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq dataset-fashion-mnist
}
if [ "$ONLY" = data ]; then install_data; log "done"; exit 0; fi

# A virtual environment with pip, also where python3-venv is missing.
make_venv() {
    local py="${PYTHON:-python3}" venv="$1"
    if "$py" -m venv "$venv" 2>/dev/null; then return 0; fi
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        local ver
        ver="$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
        log "python3-venv is missing: installing it with apt-get"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq "python$ver-venv" ||
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
        if "$py" -m venv "$venv"; then return 0; fi
        rm -rf "$venv"
    fi
    if "$py" -m virtualenv --version >/dev/null 2>&1; then
        log "no working venv module: using virtualenv"
        "$py" -m virtualenv -q "$venv"; return
    fi
    log "no ensurepip (python3-venv): a venv without pip, pip from the system"
    "$py" -m venv --without-pip "$venv"
    if "$py" -m pip --version >/dev/null 2>&1; then
        "$py" -m pip --python "$venv/bin/python" install -q pip && return 0
    fi
    echo "[setup_env] cannot give $venv a pip: install python3-venv (as" \
         "root: apt-get install python3-venv) or virtualenv" >&2
    return 1
}

VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
CONSTRAINTS=requirements/constraints.txt
REQUIREMENTS=(requirements/runtime.txt requirements/optional.txt
              requirements/tests.txt)
NODEPS_REQUIREMENTS=requirements/tests_nodeps.txt
STAMP="$VENV/.ssdkd_mm_requirements.sha256"

# Version pinned for a package in the constraints file, e.g. "2.14.1".
pinned() { sed -n "s/^$1==\([^ ;#]*\).*/\1/p" "$CONSTRAINTS"; }

# 1. the virtual environment
if [ -x "$VPY" ]; then
    log "using the existing virtual environment $VENV"
    NEW_VENV=0
else
    log "creating the virtual environment $VENV"
    make_venv "$VENV"
    NEW_VENV=1
fi
pip_install() { log "pip install $*"; "$VPY" -m pip install "$@"; }

HASH="$(cat "$CONSTRAINTS" "${REQUIREMENTS[@]}" "$NODEPS_REQUIREMENTS" |
    sha256sum | cut -d' ' -f1)"
if [ "$NEW_VENV" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$HASH" ]
then
    REQS_DONE=1
else
    REQS_DONE=0
    pip_install --upgrade pip
fi

# 2. torch + torchvision first (their own index decides the CUDA build)
TORCH="$(pinned torch)"
TORCHVISION="$(pinned torchvision)"
HAVE="$("$VPY" -c 'from importlib.metadata import version as v
print(*(v(p).split("+")[0] for p in ("torch", "torchvision")))' \
    2>/dev/null || true)"
if [ "$HAVE" = "$TORCH $TORCHVISION" ]; then
    log "torch $TORCH and torchvision $TORCHVISION already installed"
else
    pip_install "torch==$TORCH" "torchvision==$TORCHVISION"
fi

# 3. the OpenMMLab layer and test tools, held to the tested versions
if [ "$REQS_DONE" = 1 ]; then
    log "requirements unchanged since the last run ($STAMP)"
else
    EXTRA=("setuptools<81")
    # mmcv-lite and mmcv share the `mmcv` package: keep a full mmcv build.
    if "$VPY" -c 'import importlib.metadata as m; m.version("mmcv")' \
        2>/dev/null; then
        log "full mmcv is installed; not installing mmcv-lite over it"
    else
        EXTRA+=("mmcv-lite==$(pinned mmcv-lite)")
    fi
    REQ_ARGS=()
    for req in "${REQUIREMENTS[@]}"; do REQ_ARGS+=(-r "$req"); done
    pip_install -c "$CONSTRAINTS" "${REQ_ARGS[@]}" "${EXTRA[@]}"
    # data-only test packages: their dependencies are not needed
    pip_install --no-deps -c "$CONSTRAINTS" -r "$NODEPS_REQUIREMENTS"
fi

# 4. ssdkd_mm itself, editable (also links configs/ and tools/ into .mim)
EDITABLE_OK="$("$VPY" -I - "$ROOT" <<'EOF' 2>/dev/null || true
import json
import os.path as osp
import sys
from importlib import metadata
root = sys.argv[1]
try:
    url = json.loads(
        metadata.distribution('ssdkd_mm').read_text('direct_url.json') or '{}')
except metadata.PackageNotFoundError:
    url = {}
linked = all(
    osp.exists(osp.join(root, 'ssdkd_mm', '.mim', name))
    for name in ('configs', 'tools', 'model-index.yml'))
editable = url.get('dir_info', {}).get('editable', False)
print(int(editable and url.get('url') == 'file://' + root and linked))
EOF
)"
if [ "$REQS_DONE" = 1 ] && [ "$EDITABLE_OK" = 1 ]; then
    log "ssdkd_mm is already installed editable from $ROOT"
else
    pip_install -e . --no-deps --no-build-isolation
fi
echo "$HASH" > "$STAMP"

# 5. data
if [ "$WITH_DATA" = 1 ]; then
    install_data
fi
log "done"
