"""Liveness, readiness, and a 503 (not a hang or a 500) when the database is away."""

import json
import os
import socket
import tempfile
import time
import unittest

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from harness.ports import free_port
from project import db
from project.api.store import query_path
from project.config import TestingConfig
from project.errors import DATABASE_UNAVAILABLE
from project.settings import TCP_USER_TIMEOUT_MS
from project.tests.base import BaseTestCase, dispose_engines, test_database_url
from project.tests.support import app_with

UNAVAILABLE = {"status": "error", "message": DATABASE_UNAVAILABLE}


def app_with_test_database(url, **settings):
    """Build a testing app whose database is `url`, with extra settings."""
    return app_with(TestingConfig, SQLALCHEMY_DATABASE_URI=url, **settings)


class TestReadiness(BaseTestCase):

    def test_ready_when_database_answers(self):
        """Ensure /users/ready is a JSend 200 while the database answers."""
        response = self.client.get("/users/ready")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json(), {"status": "success", "message": "ready"})

    def test_sqlite_still_works(self):
        """Ensure SQLite (a file, as in development) gets no PostgreSQL options and is ready."""
        with tempfile.TemporaryDirectory() as folder:
            app = app_with_test_database("sqlite:///" + os.path.join(folder, "users.db"))
            self.assertNotIn("connect_args", app.config["SQLALCHEMY_ENGINE_OPTIONS"])
            self.assertEqual(app.test_client().get("/users/ready").status_code, 200)
            with app.app_context():
                dispose_engines()

    def test_postgres_timeouts_go_with_transactions_not_connections(self):
        """Ensure a connect timeout, a TCP user timeout, and the statement timeout in each
        transaction only."""
        options = self.app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]
        self.assertEqual(options["connect_timeout"], 3)
        self.assertNotIn("options", options)
        self.assertEqual(options["tcp_user_timeout"], TCP_USER_TIMEOUT_MS)
        show = text("show statement_timeout")
        self.assertEqual(db.session.execute(show).scalar(), "5s")
        self.assertEqual(query_path().rows(show), [("5s",)])
        db.session.remove()
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("show statement_timeout")
            self.assertEqual(cursor.fetchone(), ("0",))
            # The kernel holds the half-open bound on the connection's own socket.
            with socket.socket(fileno=os.dup(connection.dbapi_connection.fileno())) as sock:
                self.assertEqual(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT),
                                 TCP_USER_TIMEOUT_MS)
        finally:
            connection.close()


class TestDatabaseUnreachable(unittest.TestCase):
    """A database port nobody listens on: connections are refused, for real."""

    def setUp(self):
        url = f"postgresql://postgres@127.0.0.1:{free_port()}/users_test"
        self.app = app_with_test_database(url)
        self.client = self.app.test_client()

    def assert_unavailable(self, method, path, **request):
        """Send a request; assert a JSend 503 and one log line naming the refusal."""
        with self.assertLogs("project.errors", "WARNING") as logs:
            response = self.client.open(path, method=method, **request)
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.get_json(), UNAVAILABLE)
        self.assertEqual(response.headers["Retry-After"], "5")
        self.assertEqual(len(logs.records), 1)
        self.assertIn("Connection refused", logs.output[0])

    def test_ping_does_not_touch_database(self):
        """Ensure liveness (/users/ping) still answers 200 without a database."""
        response = self.client.get("/users/ping")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json(), {"status": "success", "message": "pong!"})

    def test_not_ready(self):
        """Ensure readiness is a JSend 503 without a database."""
        self.assert_unavailable("GET", "/users/ready")

    def test_api_answers_503_quickly(self):
        """Ensure every route that needs the database answers 503 within a second."""
        user = json.dumps({"username": "michael", "email": "michael@mherman.org"})
        requests = [("GET", "/users", {}), ("GET", "/users/1", {}),
                    ("POST", "/users", {"data": user, "content_type": "application/json"}),
                    ("GET", "/", {}),
                    ("POST", "/", {"data": {"username": "michael", "email": "m@mherman.org"}})]
        for method, path, request in requests:
            with self.subTest(method=method, path=path):
                started = time.monotonic()
                self.assert_unavailable(method, path, **request)
                self.assertLess(time.monotonic() - started, 1.0)


class TestStatementTimeout(BaseTestCase):
    """A statement stuck behind a lock is cancelled by PostgreSQL and answered with 503."""

    def setUp(self):
        super().setUp()
        self.impatient = app_with_test_database(test_database_url(),
                                                DATABASE_STATEMENT_TIMEOUT=300)
        self.locker = create_engine(test_database_url())

    def tearDown(self):
        with self.impatient.app_context():
            dispose_engines()
        self.locker.dispose()
        super().tearDown()

    def test_locked_table_gives_503_after_timeout(self):
        """Ensure a request blocked on a lock gives up at the statement timeout with 503."""
        client = self.impatient.test_client()
        db.session.remove()
        with self.locker.begin() as connection, self.assertLogs("project.errors") as logs:
            connection.execute(text("lock table users in access exclusive mode"))
            started = time.monotonic()
            response = client.get("/users")
            waited = time.monotonic() - started
        self.assertIn("QueryCanceled", logs.output[0])
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response.get_json(), UNAVAILABLE)
        self.assertGreaterEqual(waited, 0.3)
        self.assertLess(waited, 2.0)
        self.assertEqual(client.get("/users").status_code, 200)

    def test_orm_transaction_gives_up_at_timeout(self):
        """Ensure the ORM session's statements are cancelled at the timeout too."""
        db.session.remove()
        with self.impatient.app_context(), self.locker.begin() as connection:
            connection.execute(text("lock table users in access exclusive mode"))
            started = time.monotonic()
            with self.assertRaisesRegex(OperationalError, "statement timeout"):
                db.session.execute(text("select count(*) from users"))
            waited = time.monotonic() - started
            db.session.rollback()
        self.assertGreaterEqual(waited, 0.3)
        self.assertLess(waited, 2.0)


if __name__ == "__main__":
    unittest.main()
