#!/usr/bin/env bash
# The test command: set up .venv if needed, then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# Test files run in parallel workers (most tests wait on real node processes, so more
# workers than cores pays); a file stays on one worker, keeping its module fixtures
# shared. QALQAN_TEST_WORKERS=0 runs everything in one process.
exec .venv/bin/python -m pytest -q -n "${QALQAN_TEST_WORKERS:-4}" --dist loadfile "$@"
