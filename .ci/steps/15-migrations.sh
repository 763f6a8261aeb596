#!/usr/bin/env bash
# Migrations: every revision's offline SQL for PostgreSQL (no database needed) generated
# on its own and linted with squawk under scripts/.squawk.toml (scripts/lint_migrations.py),
# then the control: the same lint on a copy of the migrations with a plain ADD CONSTRAINT
# ... UNIQUE revision added must fail with disallowed-unique-constraint.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

make install
venv .ci/venv-migrations python3 scripts/requirements-lint-migrations.txt
squawk=.ci/venv-migrations/bin/squawk
out=.ci/artifacts/migrations
rm -rf "$out"
mkdir -p "$out"
echo "--- squawk: $("$squawk" --version)"
.venv/bin/python scripts/lint_migrations.py --squawk "$squawk" --out "$out/revisions"
echo "--- lint control: a revision with a plain ADD CONSTRAINT ... UNIQUE"
.venv/bin/python scripts/lint_migrations_control.py --squawk "$squawk" --out "$out/control"
