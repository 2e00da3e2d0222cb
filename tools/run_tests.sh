#!/usr/bin/env bash
# Provision .venv (tools/setup_env.sh --with-data), then run the test suite.
# Extra arguments go to pytest, e.g. `bash tools/run_tests.sh -m "not e2e"`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash tools/setup_env.sh --with-data

status=0
.venv/bin/python -m pytest tests -q -p no:cacheprovider "$@" || status=$?
if [ "$status" = 5 ]; then
    echo "[run_tests] FAILED: pytest collected no tests (exit code 5)." >&2
    exit 1
fi
exit "$status"
