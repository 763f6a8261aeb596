"""Take the next lesson's first step on a copy of the service, then run its whole suite.

The next lesson starts by adding a column to `User`. A student does that, runs
`python manage.py db migrate -m "..."`, `db upgrade` and `db check`, and must still see
the project's own tests pass. This does the same in a temporary copy of the repository's
service (the checkout itself is never touched), against scratch databases it drops again:

    .venv/bin/python scripts/check_next_lesson.py [--postgres postgresql://postgres@127.0.0.1:5432]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
# The step the next lesson takes (a nullable column, so existing rows stay valid).
ACTIVE_COLUMN = "    active: Mapped[bool] = mapped_column(default=True, server_default=true())\n"
NEW_COLUMN = "    password: Mapped[str | None] = mapped_column(String(255))\n"
IGNORED = shutil.ignore_patterns("instance", "htmlcov", "__pycache__", ".coverage", ".coverage.*",
                                 ".venv")
APP_VARIABLES = ("APP_SETTINGS", "DATABASE_URL", "DATABASE_TEST_URL", "SECRET_KEY",
                 "FLASK_APP", "FLASK_DEBUG")


def admin(server, statement, name):
    connection = psycopg2.connect(f"{server}/postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL(statement).format(sql.Identifier(name)))
    finally:
        connection.close()


def run(command, cwd, env):
    """Run one step, show it, and stop the check if it fails."""
    print("$", " ".join(command), flush=True)
    finished = subprocess.run(command, cwd=cwd, env=env, check=False)
    if finished.returncode:
        sys.exit(f"check_next_lesson: `{' '.join(command)}` exited {finished.returncode}")


def add_column(users_dir):
    models = users_dir / "project" / "api" / "models.py"
    text = models.read_text()
    if ACTIVE_COLUMN not in text:
        sys.exit(f"check_next_lesson: {models} no longer has the line this check extends")
    models.write_text(text.replace(ACTIVE_COLUMN, ACTIVE_COLUMN + NEW_COLUMN))


def check(server):
    databases = {"DATABASE_URL": "users_next_lesson_dev",
                 "DATABASE_TEST_URL": "users_next_lesson_test"}
    with tempfile.TemporaryDirectory(prefix="next-lesson-") as folder:
        copy = Path(folder)
        shutil.copytree(ROOT / "services" / "users", copy / "services" / "users", ignore=IGNORED)
        shutil.copytree(ROOT / "scripts", copy / "scripts", ignore=IGNORED)
        users_dir = copy / "services" / "users"
        env = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
        for variable, name in databases.items():
            admin(server, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
            admin(server, "CREATE DATABASE {}", name)
            env[variable] = f"{server}/{name}"
        try:
            python = sys.executable
            run([python, "manage.py", "db", "upgrade"], users_dir, env)
            add_column(users_dir)
            run([python, "manage.py", "db", "migrate", "-m", "add password"], users_dir, env)
            run([python, "manage.py", "db", "upgrade"], users_dir, env)
            run([python, "manage.py", "db", "check"], users_dir, env)
            run([python, "-m", "flake8"], users_dir, env)
            run([python, "manage.py", "test"], users_dir, env)
        finally:
            for name in databases.values():
                admin(server, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)
    print("check_next_lesson: a new column, migrated, leaves the suite green")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432",
                        help="the PostgreSQL server for the scratch databases")
    check(parser.parse_args().postgres.rstrip("/"))


if __name__ == "__main__":
    main()
