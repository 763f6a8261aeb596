"""Lint the migrations' offline SQL with squawk, one revision at a time.

    .venv/bin/python scripts/lint_migrations.py --squawk PATH [--directory DIR] [--out DIR]

The history is read from the scripts (alembic's ScriptDirectory), never from revision
names, so a revision added later is linted like the others. Each revision's SQL is
generated on its own (`manage.py db upgrade --sql <rev>` for the first, `<down>:<rev>`
for the others; offline SQL needs no database) and linted under scripts/.squawk.toml,
the one config. One file for the whole history would put a revision's autocommit block
(CREATE INDEX CONCURRENTLY) between the others' transactions, which squawk's tracking
of transactions misreads; the whole history's SQL must still generate. Exits 1 on any
finding, after squawk's report, or when the SQL cannot be generated or linted.
"""

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

from alembic.script import ScriptDirectory

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USERS_DIR = os.path.join(REPO, "services", "users")
MIGRATIONS_DIR = os.path.join(USERS_DIR, "migrations")
CONFIG = os.path.join(REPO, "scripts", ".squawk.toml")
# Offline SQL needs a PostgreSQL URL, not a server: nothing is asked to listen here.
OFFLINE_URL = "postgresql://postgres@127.0.0.1:9/offline_sql"


class LintError(RuntimeError):
    """The lint could not run: SQL that does not generate, a squawk that does not answer."""


def history(directory):
    """Return (revision, `db upgrade --sql` target) for each revision, first to head."""
    scripts = ScriptDirectory(directory)
    heads = scripts.get_heads()
    if len(heads) != 1:
        raise LintError(f"{directory}: the history must have one head, not {heads}")
    steps = []
    for script in reversed(list(scripts.walk_revisions("base", "heads"))):
        down = script.down_revision
        if isinstance(down, (tuple, list)):
            raise LintError(f"{script.revision} merges {down}: lint merges by hand")
        steps.append((script.revision, f"{down}:{script.revision}" if down else script.revision))
    return steps


def offline_sql(directory, target):
    """Return the SQL of `manage.py db upgrade --sql TARGET` for the migrations in `directory`.

    The migrations' own settings come from their defaults, not from this environment.
    """
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("MIGRATION_", "DATABASE_")) and name != "APP_SETTINGS"}
    env["DATABASE_URL"] = OFFLINE_URL
    command = [sys.executable, "manage.py", "db", "upgrade", "--directory", directory,
               "--sql", target]
    result = subprocess.run(command, cwd=USERS_DIR, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    if result.returncode != 0:
        raise LintError(f"`{' '.join(command[1:])}` exited {result.returncode}:\n"
                        f"{result.stderr}")
    return result.stdout


def run_squawk(squawk, path, reporter):
    try:
        return subprocess.run([squawk, "--config", CONFIG, "--reporter", reporter, path],
                              capture_output=True, text=True, timeout=60, check=False)
    except OSError as error:
        raise LintError(f"cannot run squawk ({squawk}): {error}") from None


def findings(squawk, path):
    """Return squawk's findings for one SQL file, as its JSON reporter lists them."""
    result = run_squawk(squawk, path, "json")
    try:
        found = json.loads(result.stdout)
    except ValueError:
        found = None
    # squawk exits 1 both for findings and for failing to run (a bad config, no file).
    if not isinstance(found, list) or result.returncode != (1 if found else 0):
        raise LintError(f"squawk did not lint {path} (exit {result.returncode}): "
                        f"{result.stderr.strip()}")
    return found


def lint(directory, squawk, out):
    """Write each revision's SQL into `out` and lint it; return {revision: (path, findings)}."""
    with open(os.path.join(out, "whole_history.sql"), "w", encoding="utf-8") as whole:
        whole.write(offline_sql(directory, "head"))
    results = {}
    for revision, target in history(directory):
        path = os.path.join(out, f"{revision}.sql")
        with open(path, "w", encoding="utf-8") as sql:
            sql.write(offline_sql(directory, target))
        results[revision] = (path, findings(squawk, path))
    return results


def rules(found):
    return sorted({finding["rule_name"] for finding in found})


def report(squawk, results):
    """Print a line per revision, and squawk's report where it found something."""
    for revision, (path, found) in results.items():
        listed = f": {', '.join(rules(found))}" if found else ""
        print(f"{revision}: {len(found)} finding(s){listed}")
        if found:
            print(run_squawk(squawk, path, "gcc").stdout, end="")


def lint_and_report(directory, squawk, out=None):
    """Lint `directory` with its SQL in `out` (or a temporary folder), print the report,
    and return the results."""
    with contextlib.ExitStack() as stack:
        if out is None:
            out = stack.enter_context(tempfile.TemporaryDirectory(prefix="migration-lint-"))
        os.makedirs(out, exist_ok=True)
        results = lint(directory, squawk, out)
        report(squawk, results)
        return results


def count(results):
    return sum(len(found) for _, found in results.values())


def options(description):
    """Return a parser with the options the lint and its control share."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--squawk", default=shutil.which("squawk") or "squawk",
                        help="the squawk binary (default: the one on PATH)")
    parser.add_argument("--out", help="folder for the generated SQL (default: a temporary one)")
    return parser


def main(argv=None):
    parser = options(__doc__.splitlines()[0])
    parser.add_argument("--directory", default=MIGRATIONS_DIR, help="the migrations folder")
    args = parser.parse_args(argv)
    try:
        results = lint_and_report(args.directory, args.squawk, args.out)
    except LintError as error:
        print(f"migration lint: {error}", file=sys.stderr)
        return 1
    print(f"migration lint: {count(results)} finding(s) in {len(results)} revision(s), "
          f"config {os.path.relpath(CONFIG, REPO)}")
    return 1 if count(results) else 0


if __name__ == "__main__":
    sys.exit(main())
