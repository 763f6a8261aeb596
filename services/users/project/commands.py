"""The course's commands: recreate_db, seed_db, test and cov."""

import functools
import os
import subprocess
import sys
import unittest

import click
from flask.cli import with_appcontext
from flask_migrate import upgrade
from sqlalchemy import MetaData, or_
from sqlalchemy.exc import OperationalError, ProgrammingError

from project.api.models import User
from project.config import TestingConfig
from project.extensions import db, hidden
from project.settings import same_database

USERS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS_DIR = os.path.join(USERS_DIR, "project", "tests")
MANAGE_PY = os.path.join(USERS_DIR, "manage.py")
COVERAGE_RC = os.path.join(USERS_DIR, ".coveragerc")
TESTING_SETTINGS = "project.config.TestingConfig"
SEED_USERS = (
    ("michael", "hermanmichael@gmail.com"),
    ("michaelherman", "michael@mherman.org"),
)


def database_errors_in_one_line(command):
    """Have `command` say in one line that the database is unreachable or not migrated."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (OperationalError, ProgrammingError) as error:
            reason = str(error.orig).strip().splitlines()[0]
            if "users" in reason and ("does not exist" in reason or "no such table" in reason):
                reason += " (run `python manage.py db upgrade` first)"
            raise click.ClickException(f"The database said: {reason}") from None
    return run


@click.command("recreate_db")
@with_appcontext
@database_errors_in_one_line
def recreate_db():
    """Drop every table, then build the schema again from the migrations."""
    tables = MetaData()
    tables.reflect(bind=db.engine)
    tables.drop_all(bind=db.engine)
    upgrade()


@click.command("seed_db")
@with_appcontext
@database_errors_in_one_line
def seed_db():
    """Add the course's two users, skipping any whose name or email is taken."""
    for username, email in SEED_USERS:
        taken = db.select(User.id).where(
            or_(User.username == username, User.email == email)
        )
        if db.session.scalar(taken) is None:
            db.session.add(User(username=username, email=email))
            click.echo(f"Added {username} <{email}>.")
        else:
            click.echo(f"Skipped {username} <{email}>: that username or email is taken.")
    db.session.commit()


@click.command("test")
@click.argument("names", nargs=-1)
def test(names):
    """Run the tests (all, or the named modules, classes or methods) on the test database.

    Apps that the tests build with `create_app()` get the testing config, as the
    course's tests expect; a test database that is the development one stops the run
    before any test starts.
    """
    os.environ["APP_SETTINGS"] = TESTING_SETTINGS
    refuse_development_database()
    loader = unittest.TestLoader()
    if names:
        suite = loader.loadTestsFromNames([in_tests_package(name) for name in names])
    else:
        suite = loader.discover(TESTS_DIR, pattern="test*.py", top_level_dir=USERS_DIR)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    click.echo(summary_line(result))
    sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)


def refuse_development_database():
    """Stop unless DATABASE_TEST_URL names another database than DATABASE_URL."""
    test_url = TestingConfig.SQLALCHEMY_DATABASE_URI
    if same_database(test_url, os.environ.get("DATABASE_URL")):
        raise click.ClickException(
            f"DATABASE_TEST_URL ({hidden(test_url)}) is the development database "
            "(DATABASE_URL): the tests drop its tables. Give the tests a database of "
            "their own."
        )


def in_tests_package(name):
    """Read `test_config` (a module of project/tests, as students type it) as its full name."""
    module = name.split(".", 1)[0]
    if os.path.isfile(os.path.join(TESTS_DIR, f"{module}.py")):
        return f"project.tests.{name}"
    return name


def summary_line(result):
    """Say `N passed, N failed` (and skipped), the line CI reads."""
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    skipped = len(result.skipped)
    passed = max(result.testsRun - failed - skipped - len(result.expectedFailures), 0)
    line = f"{passed} passed, {failed} failed"
    return line + (f", {skipped} skipped" if skipped else "")


@click.command("cov")
@click.argument("names", nargs=-1)
def cov(names):
    """Run the tests under coverage, print the report and write htmlcov/."""
    # A fresh interpreter, so coverage starts before the app's modules are imported.
    tests = subprocess.run(
        [sys.executable, "-m", "coverage", "run", f"--rcfile={COVERAGE_RC}",
         MANAGE_PY, "test", *names],
        check=False,
    )
    for report in ("report", "html"):
        subprocess.run(
            [sys.executable, "-m", "coverage", report, f"--rcfile={COVERAGE_RC}"],
            check=False,
        )
    sys.exit(tests.returncode)


@click.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("ignored", nargs=-1, type=click.UNPROCESSED)
def refuse_run(ignored):
    """Refused: this configuration is served by gunicorn, never the development server."""
    raise click.UsageError(
        "This configuration never runs the development server (or its debugger); "
        "serve it with: gunicorn --config gunicorn.conf.py manage:app"
    )


def register_commands(app):
    """Add the course's commands to the app's CLI."""
    for command in (recreate_db, seed_db, test, cov):
        app.cli.add_command(command)
