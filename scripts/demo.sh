#!/usr/bin/env bash
# The main job: set up .venv if needed, then run three nodes on loopback that
# exchange signed incidents (see scripts/demo.py).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python scripts/demo.py
