#!/usr/bin/env bash
# The docs as a reader uses them (scripts/check_docs.py): every relative link in README.md
# and docs/ resolves, and every command in README's shell blocks runs here (the course's
# manage.py commands and flake8, on scratch PostgreSQL databases), or is run by the step
# the script names (make run, make test, docker compose).
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

ensure_postgres
make install
.venv/bin/python scripts/check_docs.py
