"""Show that the migration lint catches a revision that locks the live table.

    .venv/bin/python scripts/lint_migrations_control.py --squawk PATH [--out DIR]

Copies services/users/migrations to a temporary folder, adds one revision after the head
whose upgrade is a plain `op.create_unique_constraint` (ALTER TABLE ... ADD CONSTRAINT
... UNIQUE: an ACCESS EXCLUSIVE lock for the whole index build, what revision 0002 once
did), and lints the copy exactly as scripts/lint_migrations.py lints the real folder.
Exits 0 only if the lint finds nothing in the real revisions and reports squawk's
disallowed-unique-constraint for the added one.
"""

import os
import shutil
import sys
import tempfile

from lint_migrations import MIGRATIONS_DIR, LintError, history, lint_and_report, options, rules

EXPECTED_RULE = "disallowed-unique-constraint"
CONTROL_REVISION = "9999_lint_control"
CONTROL_SCRIPT = '''"""Lint control: a plain unique constraint (locks the table while it builds).

Revision ID: {revision}
Revises: {down}
"""
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    op.create_unique_constraint("users_lint_control_key", "users", ["username", "email"])


def downgrade():
    op.drop_constraint("users_lint_control_key", "users", type_="unique")
'''


def copy_with_control(destination):
    """Copy the migrations into `destination` and add the control revision after the head."""
    shutil.copytree(MIGRATIONS_DIR, destination, ignore=shutil.ignore_patterns("__pycache__"))
    head = history(destination)[-1][0]
    path = os.path.join(destination, "versions", f"{CONTROL_REVISION}.py")
    with open(path, "w", encoding="utf-8") as script:
        script.write(CONTROL_SCRIPT.format(revision=CONTROL_REVISION, down=head))


def verdict(results):
    """Return what is wrong with the control's lint results, or None if it caught the lock."""
    if CONTROL_REVISION not in results:
        return f"the lint never reached {CONTROL_REVISION}"
    real = {revision: rules(found) for revision, (_, found) in results.items()
            if revision != CONTROL_REVISION and found}
    if real:
        return f"the copied revisions have findings of their own: {real}"
    if EXPECTED_RULE not in rules(results[CONTROL_REVISION][1]):
        return f"{CONTROL_REVISION} passed without {EXPECTED_RULE}: the lint catches nothing"
    return None


def main(argv=None):
    args = options(__doc__.splitlines()[0]).parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="migration-lint-control-") as scratch:
        directory = os.path.join(scratch, "migrations")
        copy_with_control(directory)
        try:
            results = lint_and_report(directory, args.squawk, args.out)
        except LintError as error:
            print(f"migration lint control: {error}", file=sys.stderr)
            return 1
    problem = verdict(results)
    if problem:
        print(f"migration lint control: {problem}", file=sys.stderr)
        return 1
    print(f"migration lint control: a plain ADD CONSTRAINT ... UNIQUE fails the lint with "
          f"{EXPECTED_RULE}, as it should")
    return 0


if __name__ == "__main__":
    sys.exit(main())
