#!/usr/bin/env bash
# The users service: flake8 and the tests on PostgreSQL (README's `make test`), on the fast
# path and again on the session (DATABASE_FAST_PATH=off: the same suite, so the two paths
# give the same answers), then the migrations and a smoke test on SQLite, then the next lesson's first step (a new column,
# migrated) on a copy of the service, whose whole suite must still pass.
set -euo pipefail
cd "$(dirname "$0")/../.."

make test
echo "--- the same suite on the session (DATABASE_FAST_PATH=off)"
DATABASE_FAST_PATH=off make test
.venv/bin/python scripts/run_smoke.py
.venv/bin/python scripts/check_next_lesson.py
