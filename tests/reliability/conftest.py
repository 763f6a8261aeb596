"""The reliability suite's settings and fixtures, on the shared harness (services/users/harness).

One private PostgreSQL cluster for the session (the tests stop and kill it, which the
machine's main cluster, shared with other test runs, must never suffer), a migrated
database and gunicorn per use. The service runs on its own pinned runtime (`make
install`), not on the test tools' venv.

Numbers the tests measure go into `metrics`; they are printed at the end of the run and
written to .ci/artifacts/reliability/metrics.json (docs/reliability.md quotes them).
"""

import contextlib
import itertools
import json
import os
import subprocess

import pytest

from harness import servers
from harness.postgres import Cluster
from harness.servers import USERS_DIR

REPO = USERS_DIR.parents[1]
ARTIFACTS = REPO / ".ci" / "artifacts" / "reliability"
APP_PYTHON = os.environ.get("RELIABILITY_APP_PYTHON", str(REPO / ".venv" / "bin" / "python"))
# initdb and pg_ctl: from this folder if set, else the newest PostgreSQL installed.
PG_BIN = os.environ.get("RELIABILITY_PG_BIN")

_names = itertools.count(1)
_metrics = {}


def artifact_path(name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return str(ARTIFACTS / name)


def migrate(database_url, revision="head", timeout=120, **environment):
    """Run the service's own `db upgrade REVISION` on its runtime (harness.servers.migrate)."""
    return servers.migrate(database_url, revision, APP_PYTHON, timeout, **environment)


def migration_history():
    """Return the revision ids from the first to the head, as alembic reads the scripts."""
    script = ("import json; from alembic.script import ScriptDirectory; "
              "scripts = ScriptDirectory('migrations'); "
              "print(json.dumps([s.revision for s in scripts.walk_revisions('base', 'heads')]))")
    result = subprocess.run([APP_PYTHON, "-c", script], cwd=USERS_DIR, check=True,
                            capture_output=True, text=True, timeout=60)
    return list(reversed(json.loads(result.stdout)))


def upgrade_lock_constants():
    """Return the migrations' advisory lock key and their sessions' application_name."""
    script = ("import json; from project.upgrade_lock import APPLICATION_NAME, LOCK_KEY; "
              "print(json.dumps([LOCK_KEY, APPLICATION_NAME]))")
    result = subprocess.run([APP_PYTHON, "-c", script], cwd=USERS_DIR, check=True,
                            capture_output=True, text=True, timeout=60)
    return tuple(json.loads(result.stdout))


class Gunicorn(servers.Gunicorn):
    """The service under gunicorn on its own runtime, logging to the artifacts
    (gunicorn-NAME.log)."""

    def __init__(self, database_url, name, workers=2, extra_args=(), **environment):
        super().__init__(database_url, ARTIFACTS, f"gunicorn-{name}", workers, extra_args,
                         python=APP_PYTHON, **environment)


def seed_users(postgres, database, count):
    """Insert users `seed<n>` (`seed<n>@mherman.org`), n = 1..count, into a fresh table."""
    with contextlib.closing(postgres.connect(database)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("insert into users (username, email) select 'seed' || n, "
                           "'seed' || n || '@mherman.org' from generate_series(1, %s) n",
                           (count,))
        connection.commit()


def stored_users(postgres, database):
    """Return every (username, email) row of the users table, read directly."""
    with contextlib.closing(postgres.connect(database)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("select username, email from users order by id")
            return [tuple(row) for row in cursor.fetchall()]


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster of our own: the tests may stop and kill it."""
    cluster = Cluster(max_connections=200, bin_dir=PG_BIN)
    try:
        cluster.initdb()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def metrics():
    return _metrics


@pytest.fixture(scope="session")
def serve(postgres):
    """Return a context manager: a fresh migrated database and gunicorn serving it."""

    @contextlib.contextmanager
    def served(name, workers=2, extra_args=(), **environment):
        database = f"reliability_{name}_{next(_names)}"
        migrate(postgres.create_database(database))
        server = Gunicorn(postgres.url(database), database, workers, extra_args, **environment)
        try:
            yield server.start(), database
        finally:
            server.stop()

    return served


def pytest_terminal_summary(terminalreporter):
    if not _metrics:
        return
    terminalreporter.section("reliability numbers")
    for test, numbers in _metrics.items():
        shown = ", ".join(f"{key}={value}" for key, value in numbers.items())
        terminalreporter.write_line(f"{test}: {shown}")
    with open(artifact_path("metrics.json"), "w", encoding="utf-8") as out:
        json.dump(_metrics, out, indent=2, sort_keys=True)
