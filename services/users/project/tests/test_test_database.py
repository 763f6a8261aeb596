"""The tests refuse any database but the test one; URLs name our driver."""

import os
import subprocess
import sys
import unittest
from unittest import mock

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from project import create_app, db
from project.commands import USERS_DIR
from project.config import DevelopmentConfig, ProductionConfig, TestingConfig
from project.settings import SettingError, same_database
from project.tests.base import (BaseTestCase, assert_test_database, dispose_engines,
                                test_database_url)
from project.tests.support import app_with, child_env, run_manage


class TestTestDatabaseGuard(unittest.TestCase):

    def test_engine_refused_once_config_names_another_database(self):
        """Ensure an app whose config moved to the test database no longer runs SQL.

        Flask-SQLAlchemy 3 keeps the engine made at init_app, so the course's pattern
        (TestingConfig loaded onto a development app) would drop development tables.
        """
        app = app_with(DevelopmentConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
        app.config.from_object(TestingConfig)
        with app.app_context():
            self.assertEqual(app.config["SQLALCHEMY_DATABASE_URI"], test_database_url())
            with self.assertRaisesRegex(RuntimeError, "bound to sqlite://"):
                db.create_all()

    def test_test_command_refuses_development_database_once(self):
        """Ensure `manage.py test` with the test database as DATABASE_URL says so once."""
        url = test_database_url().replace("postgresql://", "postgres://", 1)
        result = run_manage("test", "test_user_model", env=child_env(DATABASE_URL=url))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, "")
        lines = result.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, result.stderr)
        self.assertRegex(lines[0], r"^Error: DATABASE_TEST_URL .* is the development database")

    def test_refuses_test_url_equal_to_development_url(self):
        """Ensure DATABASE_TEST_URL pointing at DATABASE_URL is refused."""
        app = create_app("project.config.TestingConfig")
        with mock.patch.dict(os.environ, {"DATABASE_URL": test_database_url()}):
            with app.app_context(), self.assertRaises(RuntimeError):
                assert_test_database()


class TestBaseTestCaseDatabase(BaseTestCase):

    def test_engine_is_the_test_database(self):
        """Ensure BaseTestCase's engine talks to DATABASE_TEST_URL on PostgreSQL."""
        self.assertEqual(
            db.engine.url.render_as_string(hide_password=False), test_database_url()
        )
        self.assertEqual(db.engine.dialect.name, "postgresql")


class TestDatabaseUrls(unittest.TestCase):

    def test_same_database_ignores_scheme_driver_user_and_default_port(self):
        """Ensure one database named two ways is recognised, and two databases are not."""
        base = "postgresql://u:secret@db:5432/users_dev"
        for same in ("postgres://other@db/users_dev", "postgresql+psycopg2://db:5432/users_dev"):
            with self.subTest(url=same):
                self.assertTrue(same_database(base, same))
        for other in ("postgresql://db:5433/users_dev", "postgresql://db/users_test",
                      "postgresql://elsewhere/users_dev", None):
            with self.subTest(url=other):
                self.assertFalse(same_database(base, other))

    def test_in_memory_sqlite_serves(self):
        """Ensure `sqlite://` (in memory) builds an engine and serves the API."""
        app = app_with(DevelopmentConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
        with app.app_context():
            db.create_all()
            response = app.test_client().get("/users")
        self.assertEqual(response.get_json(), {"status": "success", "data": {"users": []}})

    def test_url_we_cannot_use_is_one_line(self):
        """Ensure a malformed or foreign DATABASE_URL stops a command with one line."""
        for url in ("not a url", "mysql://u@db/users", "postgresql://u@db:port/users"):
            with self.subTest(url=url):
                result = run_manage("seed_db", env=child_env(DATABASE_URL=url))
                self.assertEqual(result.returncode, 1)
                self.assertEqual(result.stderr.strip(), (
                    "Error: DATABASE_URL is not a database URL this service can use "
                    "(postgresql://user:password@host:port/name, or sqlite:///path)."))

    def test_both_schemes_connect_with_psycopg2(self):
        """Ensure a postgres:// and a bare postgresql:// URL, as given, connect with psycopg2."""
        url = make_url(test_database_url())
        for scheme in ("postgres", "postgresql"):
            raw = url.set(drivername=scheme).render_as_string(hide_password=False)
            with self.subTest(url=raw):
                app = app_with(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=raw)
                self.assertEqual(app.config["SQLALCHEMY_DATABASE_URI"], raw)
                with app.app_context():
                    self.assertEqual(db.engine.dialect.driver, "psycopg2")
                    with db.engine.connect() as connection:
                        self.assertEqual(connection.execute(text("select 1")).scalar(), 1)
                    dispose_engines()


# `make test` creates the test database with this script; the service's image has no copy.
ENSURE_DATABASE = os.path.join(USERS_DIR, "..", "..", "scripts", "ensure_database.py")


@unittest.skipUnless(os.path.exists(ENSURE_DATABASE), "scripts/ is outside the image")
class TestEnsureDatabase(unittest.TestCase):

    def setUp(self):
        url = make_url(test_database_url())
        self.name = f"{url.database}_ensure"
        self.url = url.set(database=self.name).render_as_string(hide_password=False)
        self.admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        self.drop()
        self.addCleanup(self.admin.dispose)
        self.addCleanup(self.drop)

    def drop(self):
        with self.admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))

    def exists(self):
        with self.admin.connect() as connection:
            found = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                       {"name": self.name})
            return found.first() is not None

    def ensure(self):
        return subprocess.run([sys.executable, ENSURE_DATABASE, self.url], capture_output=True,
                              text=True, timeout=60, check=False)

    def test_creates_missing_database_once(self):
        """Ensure the script creates a missing database, then leaves it be."""
        first = self.ensure()
        self.assertEqual(first.returncode, 0, first.stderr)
        self.assertIn(f"created database {self.name}", first.stdout)
        self.assertTrue(self.exists())
        second = self.ensure()
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assertEqual(second.stdout, "")


class TestProductionRefusals(unittest.TestCase):

    def test_production_needs_secret_key(self):
        """Ensure ProductionConfig refuses to start without SECRET_KEY, or with the course's."""
        for secret in ("", "my_precious"):
            with self.subTest(secret=secret):
                with self.assertRaisesRegex(SettingError, "^SECRET_KEY must be set"):
                    app_with(ProductionConfig, SECRET_KEY=secret,
                             SQLALCHEMY_DATABASE_URI="postgresql://db/users_prod")

    def test_production_needs_database_url(self):
        """Ensure ProductionConfig refuses to start without DATABASE_URL."""
        with self.assertRaisesRegex(SettingError, "^DATABASE_URL must be set"):
            app_with(ProductionConfig, SECRET_KEY="s", SQLALCHEMY_DATABASE_URI=None)

    def test_production_refusal_is_one_line(self):
        """Ensure a production command without SECRET_KEY says so in one line."""
        env = child_env(APP_SETTINGS="project.config.ProductionConfig",
                        DATABASE_URL=test_database_url())
        result = run_manage("seed_db", env=env)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.strip(), "Error: SECRET_KEY must be set in the "
                         "environment for this configuration.")

    def test_toolbar_only_in_development(self):
        """Ensure the debug toolbar is mounted in development only."""
        development = create_app("project.config.DevelopmentConfig")
        testing = create_app("project.config.TestingConfig")
        self.assertIn("debugtoolbar", development.blueprints)
        self.assertNotIn("debugtoolbar", testing.blueprints)


if __name__ == "__main__":
    unittest.main()
