"""manage.py: exit codes, the summary line, coverage, recreate_db, seed_db, shell."""

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest

import coverage
from sqlalchemy import create_engine, inspect, text

from project import config
from project.commands import USERS_DIR
from project.tests.support import child_env, run_manage, scratch_database

FAILING_MODULE = """
import unittest

class Failing(unittest.TestCase):
    def test_passes(self):
        self.assertTrue(True)

    def test_fails(self):
        self.assertEqual(1, 2)
"""


# The course's way of testing, in a module of its own: one app built at import with the
# environment's config (development), a Flask-Testing case loading TestingConfig onto it.
PREBUILT_APP_MODULE = """
from flask_testing import TestCase

from project import create_app, db
from project.api.models import User

app = create_app()


class PrebuiltAppCase(TestCase):
    def create_app(self):
        app.config.from_object("project.config.TestingConfig")
        return app

    def setUp(self):
        db.create_all()

    def tearDown(self):
        db.session.remove()
        db.drop_all()

    def test_adds_a_user(self):
        db.session.add(User(username="prebuilt", email="prebuilt@example.com"))
        db.session.commit()
        self.assertEqual(db.session.query(User).count(), 1)
"""


class TestTestCommand(unittest.TestCase):

    def run_module(self, source):
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "sample_tests.py"), "w") as module:
                module.write(textwrap.dedent(source))
            env = child_env(PYTHONPATH=folder)
            return run_manage("test", "sample_tests", env=env)

    def test_failing_tests_exit_non_zero(self):
        """Ensure `manage.py test` exits 1 and says `1 passed, 1 failed` on a failure."""
        result = self.run_module(FAILING_MODULE)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout.strip().splitlines()[-1], "1 passed, 1 failed")
        self.assertIn("FAILED (failures=1)", result.stderr)

    def test_passing_tests_exit_zero(self):
        """Ensure passing tests exit 0 with the summary line."""
        result = self.run_module(FAILING_MODULE.replace("1, 2", "2, 2"))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip().splitlines()[-1], "2 passed, 0 failed")

    def test_module_name_as_students_type_it(self):
        """Ensure `manage.py test test_config` runs project/tests/test_config.py."""
        result = run_manage("test", "test_config.TestTestingConfig")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip().splitlines()[-1], "1 passed, 0 failed")
        self.assertIn("project.tests.test_config.TestTestingConfig", result.stderr)

    def test_no_tests_is_a_failure(self):
        """Ensure a run that finds no test does not pass."""
        result = self.run_module("import unittest\n")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout.strip().splitlines()[-1], "0 passed, 0 failed")


class TestCovCommand(unittest.TestCase):

    def test_cov_counts_module_level_lines_and_writes_html(self):
        """Ensure cov measures from before the app is imported and writes htmlcov/."""
        with tempfile.TemporaryDirectory() as folder:
            env = child_env(COVERAGE_FILE=os.path.join(folder, ".coverage"))
            result = run_manage("cov", "project.tests.test_config", env=env, cwd=folder)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertTrue(os.path.isfile(os.path.join(folder, "htmlcov", "index.html")))
            executed = executed_lines(os.path.join(folder, ".coverage"), config.__file__)
            self.assertIn(line_number(config.__file__, "class BaseConfig:"), executed)
            self.assertIn("project/config.py", result.stdout)

    def test_cov_exits_non_zero_when_tests_fail(self):
        """Ensure cov passes the tests' failure on as its exit code."""
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "sample_tests.py"), "w") as module:
                module.write(textwrap.dedent(FAILING_MODULE))
            env = child_env(PYTHONPATH=folder,
                            COVERAGE_FILE=os.path.join(folder, ".coverage"))
            result = run_manage("cov", "sample_tests", env=env, cwd=folder)
            self.assertEqual(result.returncode, 1)

    def test_coverage_not_active_when_app_is_imported(self):
        """Ensure importing manage (as gunicorn does) starts no coverage."""
        script = "import coverage, manage; print(coverage.Coverage.current() is None)"
        result = run_python(script)
        self.assertEqual(result.stdout.strip(), "True", result.stderr)


def executed_lines(data_file, source_file):
    data = coverage.CoverageData(basename=data_file)
    data.read()
    return set(data.lines(os.path.realpath(source_file)) or ())


def line_number(source_file, text):
    with open(source_file) as source:
        for number, line in enumerate(source, start=1):
            if line.startswith(text):
                return number
    raise AssertionError(f"{text!r} not in {source_file}")


def run_python(script):
    """Run a Python snippet in the users folder, with a clean environment."""
    return subprocess.run([sys.executable, "-c", script], cwd=USERS_DIR,
                          env=child_env(), capture_output=True, text=True, check=False)


class TestDatabaseCommands(unittest.TestCase):

    def setUp(self):
        self.url = self.enterContext(scratch_database("commands"))
        self.env = child_env(DATABASE_URL=self.url)

    def usernames(self):
        engine = create_engine(self.url)
        with engine.connect() as connection:
            rows = connection.execute(text("select username from users order by id"))
            names = [row[0] for row in rows]
        engine.dispose()
        return names

    def test_recreate_db_builds_schema_from_migrations(self):
        """Ensure recreate_db leaves the migrated schema: `db check` finds no drift."""
        for _ in range(2):
            result = run_manage("recreate_db", env=self.env)
            self.assertEqual(result.returncode, 0, result.stderr)
        check = run_manage("db", "check", env=self.env)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("No new upgrade operations detected.", check.stdout + check.stderr)

    def test_recreate_db_empties_the_table(self):
        """Ensure recreate_db drops the users that were there."""
        run_manage("recreate_db", env=self.env)
        run_manage("seed_db", env=self.env)
        run_manage("recreate_db", env=self.env)
        self.assertEqual(self.usernames(), [])

    def test_seed_db_is_idempotent(self):
        """Ensure seed_db adds the course's two users, and a second run adds nothing."""
        self.assertEqual(run_manage("db", "upgrade", env=self.env).returncode, 0)
        for _ in range(2):
            result = run_manage("seed_db", env=self.env)
            self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.usernames(), ["michael", "michaelherman"])

    def test_seed_db_says_what_it_added_and_skipped(self):
        """Ensure seed_db names each user it added, then each one it skipped."""
        self.assertEqual(run_manage("db", "upgrade", env=self.env).returncode, 0)
        first = run_manage("seed_db", env=self.env)
        second = run_manage("seed_db", env=self.env)
        self.assertEqual(first.stdout.splitlines(), [
            "Added michael <hermanmichael@gmail.com>.",
            "Added michaelherman <michael@mherman.org>.",
        ])
        self.assertEqual(second.stdout.splitlines(), [
            "Skipped michael <hermanmichael@gmail.com>: that username or email is taken.",
            "Skipped michaelherman <michael@mherman.org>: that username or email is taken.",
        ])

    def test_seed_db_before_migrations_says_so_in_one_line(self):
        """Ensure seed_db on a database with no users table says to migrate first."""
        result = run_manage("seed_db", env=self.env)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.strip(), 'Error: The database said: relation "users" '
                         'does not exist (run `python manage.py db upgrade` first)')

    def test_tests_under_development_config_touch_only_the_test_database(self):
        """Ensure `manage.py test`, started as in development, leaves DATABASE_URL be."""
        self.assertEqual(run_manage("db", "upgrade", env=self.env).returncode, 0)
        self.assertEqual(run_manage("seed_db", env=self.env).returncode, 0)
        test_url = self.enterContext(scratch_database("commands_tests"))
        folder = self.enterContext(tempfile.TemporaryDirectory())
        with open(os.path.join(folder, "prebuilt_app_tests.py"), "w") as module:
            module.write(PREBUILT_APP_MODULE)
        env = dict(self.env, APP_SETTINGS="project.config.DevelopmentConfig",
                   DATABASE_TEST_URL=test_url, PYTHONPATH=folder)
        result = run_manage("test", "prebuilt_app_tests", env=env)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip().splitlines()[-1], "1 passed, 0 failed")
        self.assertEqual(self.usernames(), ["michael", "michaelherman"])
        engine = create_engine(test_url)
        self.assertEqual(inspect(engine).get_table_names(), [])
        engine.dispose()

    def test_shell_context(self):
        """Ensure `manage.py shell` offers app, db and User."""
        run_manage("db", "upgrade", env=self.env)
        script = "print(json.dumps([app.name, db.engine.dialect.name, User.__tablename__]))"
        result = run_manage("shell", env=self.env, stdin="import json\n" + script + "\n")
        self.assertEqual(result.returncode, 0, result.stderr)
        printed = re.search(r"\[.*\]", result.stdout)
        self.assertIsNotNone(printed, result.stdout)
        self.assertEqual(json.loads(printed.group()), ["project", "postgresql", "users"])

    def test_production_refuses_the_development_server(self):
        """Ensure `--debug run` cannot wrap a production app in Werkzeug's debugger."""
        env = child_env(APP_SETTINGS="project.config.ProductionConfig",
                        DATABASE_URL=self.url, SECRET_KEY="s")
        for arguments in (["run"], ["--debug", "run"], ["run", "--debugger"]):
            with self.subTest(arguments=arguments):
                result = run_manage(*arguments, "--port", "1", env=env)
                self.assertEqual(result.returncode, 2)
                self.assertIn("never runs the development server", result.stderr)

    def test_commands_keep_course_spelling(self):
        """Ensure the course's command names are listed as it spells them."""
        result = run_manage("--help", env=self.env)
        for name in ("recreate_db", "seed_db", "test", "cov", "db", "run", "shell"):
            with self.subTest(name=name):
                self.assertRegex(result.stdout, rf"\n  {name}\s")


if __name__ == "__main__":
    unittest.main()
