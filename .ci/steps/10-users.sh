#!/usr/bin/env bash
# The users service: flake8 and the tests on PostgreSQL (README's `make test`),
# then the migrations and a smoke test on SQLite.
set -euo pipefail
cd "$(dirname "$0")/../.."

make test
.venv/bin/python scripts/run_smoke.py
