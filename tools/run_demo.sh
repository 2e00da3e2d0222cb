#!/usr/bin/env bash
# The main job on a fresh machine: install the tested stack and Fashion-MNIST
# (tools/setup_env.sh --with-data), then run tools/demo.py. Extra arguments go
# to the demo, e.g. `bash tools/run_demo.sh --minutes 10 --baselines noise fast2`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash tools/setup_env.sh --with-data
exec .venv/bin/python tools/demo.py "$@"
