"""The app's pool: bounded per worker, and connections PostgreSQL closed are replaced.

These go through the test client, so they hold on whichever path DATABASE_FAST_PATH
gives the suite.
"""

import subprocess
import sys
import time
import unittest

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from project import db
from project.commands import USERS_DIR
from project.config import DEFAULT_THREADS, TestingConfig
from project.tests.base import BaseTestCase, dispose_engines, test_database_url
from project.tests.support import app_with, child_env, run_manage
from project.tests.utils import add_user

OTHER_BACKENDS = text("select pid from pg_stat_activity where datname = current_database() "
                      "and pid <> pg_backend_pid() and backend_type = 'client backend'")


class AppConnectionsTestCase(BaseTestCase):
    """Tests that end the app's connections from a session of their own."""

    def setUp(self):
        super().setUp()
        self.admin = create_engine(test_database_url(), poolclass=NullPool,
                                   isolation_level="AUTOCOMMIT")
        self.addCleanup(self.admin.dispose)

    def terminate_the_apps_connections(self):
        """End every other connection to the test database; return once all have exited."""
        with self.admin.connect() as connection:
            pids = connection.execute(OTHER_BACKENDS).scalars().all()
            connection.execute(text("select pg_terminate_backend(pid) from unnest(:pids) pid"),
                               {"pids": pids})
            deadline = time.monotonic() + 5
            while connection.execute(OTHER_BACKENDS).first() is not None:
                if time.monotonic() > deadline:
                    self.fail("the terminated connections did not exit")
                time.sleep(0.05)
        return pids

    def warm_up(self):
        """Have the app hold connections, as a serving worker does."""
        self.assertEqual(self.client.get("/users").status_code, 200)
        db.session.remove()


class TestClosedConnections(AppConnectionsTestCase):
    """PostgreSQL ends the app's connections (as a restart would); the next request is fine."""

    def test_read_after_connections_closed(self):
        """Ensure a read gets a live connection, not a 503, after the server closed them."""
        user_id = add_user("michael", "michael@mherman.org").id
        self.warm_up()
        self.assertTrue(self.terminate_the_apps_connections())
        response = self.client.get(f"/users/{user_id}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json()["data"]["username"], "michael")

    def test_post_after_connections_closed(self):
        """Ensure a POST after the server closed the app's connections is stored, once."""
        self.warm_up()
        self.terminate_the_apps_connections()
        response = self.client.post("/users", json={"username": "michael",
                                                    "email": "michael@mherman.org"})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(len(self.client.get("/users").get_json()["data"]["users"]), 1)

    def test_readiness_and_session_after_connections_closed(self):
        """Ensure readiness and the ORM session replace a closed pooled connection too."""
        self.warm_up()
        add_user("michael", "michael@mherman.org")
        db.session.remove()
        self.terminate_the_apps_connections()
        self.assertEqual(self.client.get("/users/ready").status_code, 200)
        self.assertEqual(add_user("fletcher", "fletcher@notreal.com").username, "fletcher")


class TestReadOnlyDatabase(AppConnectionsTestCase):
    """The database refuses writes for a while (a standby not yet promoted): 503, reads go on."""

    def set_read_only(self, read_only):
        """Make the test database's new sessions read-only (or not); end the app's old ones."""
        name = self.admin.url.database
        setting = "= on" if read_only else "TO DEFAULT"
        with self.admin.connect() as connection:
            # This session began under the setting too.
            connection.execute(text("SET default_transaction_read_only = off"))
            connection.execute(text(
                f'ALTER DATABASE "{name}" SET default_transaction_read_only {setting}'))
        # The test's app context keeps its session between requests; a worker's does not.
        db.session.remove()
        self.terminate_the_apps_connections()

    def test_writes_get_503_and_reads_200_until_writable_again(self):
        """Ensure a read-only database gives writes its JSend 503, reads and readiness 200."""
        user_id = add_user("michael", "michael@mherman.org").id
        self.warm_up()
        self.set_read_only(True)
        try:
            with self.assertLogs("project.errors", "WARNING") as logged:
                refused = self.client.post("/users", json={"username": "fletcher",
                                                           "email": "fletcher@notreal.com"})
            read = self.client.get(f"/users/{user_id}")
            ready = self.client.get("/users/ready")
        finally:
            self.set_read_only(False)
        self.assertEqual((refused.status_code, refused.headers["Retry-After"]), (503, "5"))
        self.assertEqual(refused.get_json(), {
            "status": "error",
            "message": "The database does not accept writes right now. Please try again later."})
        self.assertIn("SQLSTATE 25006", logged.output[0])
        self.assertNotIn("fletcher", "".join(logged.output))
        self.assertEqual(read.status_code, 200)
        self.assertEqual(ready.status_code, 200)
        added = self.client.post("/users", json={"username": "fletcher",
                                                 "email": "fletcher@notreal.com"})
        self.assertEqual(added.status_code, 201)
        self.assertEqual(len(self.client.get("/users").get_json()["data"]["users"]), 2)


class TestPoolBudget(unittest.TestCase):
    """A worker's connections are bounded by its pool; past that, a bounded wait and a 503."""

    def app_with(self, **settings):
        app = app_with(TestingConfig, **settings)
        self.addCleanup(self.dispose, app)
        return app

    def dispose(self, app):
        with app.app_context():
            dispose_engines()

    def test_pool_is_one_connection_per_thread_without_overflow(self):
        """Ensure the pool holds GUNICORN_THREADS connections, gunicorn's default alike."""
        threads = subprocess.run(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py",
             "--print-config", "manage:app"], cwd=USERS_DIR, env=child_env(),
            capture_output=True, text=True, timeout=60, check=True).stdout
        self.assertRegex(threads, rf"(?m)^threads\s+= {DEFAULT_THREADS}$")
        for settings, size in (({"GUNICORN_THREADS": DEFAULT_THREADS}, DEFAULT_THREADS),
                               ({"GUNICORN_THREADS": "6"}, 6),
                               ({"GUNICORN_THREADS": "2", "DATABASE_POOL_SIZE": "3"}, 3)):
            with self.subTest(settings=settings):
                app = self.app_with(**settings)
                with app.app_context():
                    self.assertEqual(db.engine.pool.size(), size)
                    self.assertEqual(app.config["SQLALCHEMY_ENGINE_OPTIONS"]["max_overflow"], 0)
                    self.assertEqual(db.engine.pool.timeout(), 3)

    def test_request_waits_for_the_pool_then_answers_503(self):
        """Ensure a request finding every pooled connection busy waits, then gets a JSend 503."""
        app = self.app_with(DATABASE_POOL_SIZE=1, GUNICORN_THREADS=1, DATABASE_POOL_TIMEOUT=1)
        with app.app_context(), db.engine.connect():
            started = time.monotonic()
            with self.assertLogs("project.errors", "WARNING"):
                response = app.test_client().get("/users/1")
            waited = time.monotonic() - started
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.get_json()["status"], "error")
        self.assertGreaterEqual(waited, 1)
        self.assertLess(waited, 3)
        self.assertEqual(app.test_client().get("/users/ready").status_code, 200)

    def test_bad_pool_setting_is_one_line(self):
        """Ensure a pool setting that is not a number stops a command with one line."""
        result = run_manage("seed_db", env=child_env(DATABASE_URL=test_database_url(),
                                                     DATABASE_POOL_SIZE="plenty"))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.strip(),
                         "Error: DATABASE_POOL_SIZE must be a whole number, not 'plenty'.")


if __name__ == "__main__":
    unittest.main()
