#!/usr/bin/env bash
# Provision .venv (tools/setup_env.sh --only venv) and, only when it is
# missing, the Fashion-MNIST data (--only data: root or sudo), then run the
# test suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -m "not e2e"`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash tools/setup_env.sh --only venv
bash tools/setup_env.sh --only data  # a no-op without root when present

status=0
.venv/bin/python -m pytest tests -q -p no:cacheprovider "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "[run_tests] FAILED: pytest collected no tests (exit code 5)." >&2
    exit 1
fi
exit "$status"
