"""Fixtures: one private PostgreSQL for the session, a migrated database and gunicorn per use.

Numbers the tests measure go into `metrics`; they are printed at the end of the run and
written to .ci/artifacts/reliability/metrics.json (docs/reliability.md quotes them).
"""

import contextlib
import itertools
import json

import pytest

from harness import Gunicorn, PrivatePostgres, artifact_path, migrate

_names = itertools.count(1)
_metrics = {}


@pytest.fixture(scope="session")
def postgres():
    """A PostgreSQL cluster of our own: the tests may stop and kill it."""
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


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
