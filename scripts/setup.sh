#!/usr/bin/env bash
# Create .venv with Qalqan and its test dependencies (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
# The UI's message catalogues: node/translations/*/LC_MESSAGES/messages.po → .mo (not in git).
./scripts/i18n.sh compile >/dev/null

# pycti (OpenCTI's client, run by the OpenCTI tests through tests/opencti_probe.py) pins
# setuptools ~=82 while misp-stix needs >=83, so it gets an environment of its own.
PYCTI='pycti>=7.261026,<8'
if [ ! -x .venv-pycti/bin/python ]; then
  python3 -m venv .venv-pycti
fi
.venv-pycti/bin/python -m pip install -q "$PYCTI"
