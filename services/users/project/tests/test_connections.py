"""One pool for everything the app does, and pooled connections PostgreSQL has closed."""

import gc
import os
import subprocess
import sys
import threading
import time
import unittest
from unittest import mock

from sqlalchemy import Integer, create_engine, text

from project import create_app, db
from project.api.models import User
from project.commands import USERS_DIR
from project.config import DEFAULT_THREADS
from project.connections import api_cursor
from project.statements import Statement
from project.tests.base import BaseTestCase, dispose_engines, test_database_url
from project.tests.support import child_env, run_manage
from project.tests.utils import add_user


PID = Statement(text("select pg_backend_pid() as pid").columns(pid=Integer))


def backend_pid(engine):
    """Check a connection out of `engine`'s pool, note its server process, return it."""
    with engine.connect() as connection:
        return connection.execute(text("select pg_backend_pid()")).scalar()


def api_backend_pid():
    """Return the server process of the connection the API's next statement runs on."""
    with api_cursor() as cursor:
        return cursor.run(PID)[0]["pid"]


class TestOnePool(BaseTestCase):

    def test_api_and_orm_share_the_pool(self):
        """Ensure API requests and the ORM session take turns on one pooled connection."""
        add_user("michael", "michael@mherman.org")
        db.session.remove()
        first = backend_pid(db.engine)
        self.assertEqual(self.client.get("/users/1").status_code, 200)
        self.assertEqual(self.client.get("/users/ready").status_code, 200)
        self.assertEqual((db.engine.pool.checkedout(), db.engine.pool.checkedin()), (1, 0))
        self.assertEqual(api_backend_pid(), first)
        # The ORM session hands the thread's API connection back and takes it itself.
        self.assertEqual(db.session.execute(text("select pg_backend_pid()")).scalar(), first)
        self.assertEqual(db.engine.pool.checkedout(), 1)
        db.session.remove()
        self.assertEqual(db.engine.pool.checkedout(), 0)

    def test_orm_session_keeps_transactions(self):
        """Ensure the ORM session rolls back what it has not committed; the pool autocommits."""
        db.session.add(User(username="gone", email="gone@mherman.org"))
        db.session.flush()
        raw = db.session.connection().connection.driver_connection
        self.assertFalse(raw.autocommit)
        db.session.rollback()
        self.assertEqual(self.client.get("/users").get_json()["data"]["users"], [])
        db.session.remove()
        self.assertTrue(raw.autocommit)


class TestThreadConnections(BaseTestCase):
    """Each thread keeps its API connection between requests, within the pool's count."""

    def test_a_thread_keeps_its_connection_between_requests(self):
        """Ensure consecutive API statements in a thread run on one checked-out connection."""
        first = api_backend_pid()
        for path in ("/users", "/users/ping", "/users/ready"):
            self.assertEqual(self.client.get(path).status_code, 200)
        self.assertEqual(api_backend_pid(), first)
        self.assertEqual(db.engine.pool.checkedout(), 1)

    def test_a_thread_that_ends_hands_its_connection_back(self):
        """Ensure the connection a finished thread kept is back in the pool, not lost."""
        pids = []

        def serve_once():
            with self.app.app_context():
                pids.append(api_backend_pid())

        thread = threading.Thread(target=serve_once)
        thread.start()
        thread.join()
        del thread
        gc.collect()
        self.assertEqual(db.engine.pool.checkedout(), 0)
        self.assertEqual(backend_pid(db.engine), pids[0])

    def test_nothing_kept_where_the_pool_is_smaller_than_the_threads(self):
        """Ensure a pool with fewer connections than threads lends one per block only."""
        with mock.patch.dict(os.environ, {"DATABASE_TEST_URL": test_database_url(),
                                          "DATABASE_POOL_SIZE": "2"}):
            app = create_app("project.config.TestingConfig")
        with app.app_context():
            self.addCleanup(dispose_engines)
            api_backend_pid()
            self.assertEqual(db.engine.pool.checkedout(), 0)


class TestClosedConnections(BaseTestCase):
    """PostgreSQL ends a pooled connection (as a restart would); the next request is fine."""

    def setUp(self):
        super().setUp()
        self.admin = create_engine(test_database_url())
        self.addCleanup(self.admin.dispose)

    def terminate(self, pid):
        with self.admin.connect() as connection:
            connection.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        # The server closes the socket when the process exits: wait for it to be gone.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self.admin.connect() as connection:
                alive = connection.execute(
                    text("select count(*) from pg_stat_activity where pid = :pid"),
                    {"pid": pid}).scalar()
            if not alive:
                return
            time.sleep(0.05)
        self.fail(f"backend {pid} did not exit")

    def test_api_request_after_connection_closed(self):
        """Ensure a request gets a live connection, not a 503, after its pooled one was closed."""
        user = add_user("michael", "michael@mherman.org")
        stale = backend_pid(db.engine)
        self.terminate(stale)
        response = self.client.get(f"/users/{user.id}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json()["data"]["username"], "michael")
        self.assertNotEqual(backend_pid(db.engine), stale)

    def test_post_after_connection_closed(self):
        """Ensure a POST after its pooled connection was closed is stored, once."""
        self.terminate(backend_pid(db.engine))
        response = self.client.post("/users", json={"username": "michael",
                                                    "email": "michael@mherman.org"})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(len(self.client.get("/users").get_json()["data"]["users"]), 1)

    def test_kept_connection_closed_is_replaced(self):
        """Ensure a request after the server closed its kept connection gets a live one."""
        # The id read now: reading it later would have the ORM take the kept connection.
        user_id = add_user("michael", "michael@mherman.org").id
        stale = api_backend_pid()
        self.terminate(stale)
        response = self.client.get(f"/users/{user_id}")
        self.assertEqual(response.status_code, 200)
        self.assertNotEqual(api_backend_pid(), stale)

    def test_readiness_after_connection_closed(self):
        """Ensure readiness and the ORM session replace a closed pooled connection too."""
        db.session.remove()
        stale = backend_pid(db.engine)
        self.terminate(stale)
        self.assertEqual(self.client.get("/users/ready").status_code, 200)
        self.assertNotEqual(backend_pid(db.engine), stale)


class TestPoolBudget(unittest.TestCase):
    """A worker's connections are bounded by its pool; past that, a bounded wait and a 503."""

    def app_with(self, **environment):
        with mock.patch.dict(os.environ, {"DATABASE_TEST_URL": test_database_url(),
                                          **environment}):
            app = create_app("project.config.TestingConfig")
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
        for environment, size in (({}, DEFAULT_THREADS), ({"GUNICORN_THREADS": "6"}, 6),
                                  ({"GUNICORN_THREADS": "6", "DATABASE_POOL_SIZE": "2"}, 2)):
            with self.subTest(environment=environment):
                app = self.app_with(**environment)
                with app.app_context():
                    self.assertEqual(db.engine.pool.size(), size)
                    self.assertEqual(db.engine.pool._max_overflow, 0)
                    self.assertEqual(db.engine.pool.timeout(), 3)

    def test_request_waits_for_the_pool_then_answers_503(self):
        """Ensure a request finding every pooled connection busy waits, then gets a JSend 503."""
        app = self.app_with(DATABASE_POOL_SIZE="1", DATABASE_POOL_TIMEOUT="1")
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
