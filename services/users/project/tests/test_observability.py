"""Request IDs, access lines and metrics, through the test client.

A request is counted, timed and logged when its answer is closed (as gunicorn closes
every answer), so these tests close theirs with `answer`.
"""

import contextlib
import io
import json
import logging
import re
import unittest

from prometheus_client import REGISTRY
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from project import db
from project.config import DevelopmentConfig, ProductionConfig, TestingConfig
from project.logs import APP_LOGGER, HANDLER_NAME
from project.settings import SettingError
from project.tests.base import BaseTestCase, dispose_engines, test_database_url
from project.tests.support import app_with
from project.tests.utils import add_user

MADE_ID = re.compile(r"[0-9a-f]{32}")
LINE_FIELDS = {"time", "level", "logger", "message", "request_id", "method", "route"}
ACCESS_FIELDS = LINE_FIELDS | {"status", "duration_ms"}
# Nothing listens here: the database is away.
UNREACHABLE_URL = "postgresql://postgres@127.0.0.1:1/users_nowhere"


def answer(client, method, path, **options):
    """Send a request and close its answer, as a server does; return the answer."""
    response = client.open(path, method=method, **options)
    response.close()
    return response


def sample(name, **labels):
    """The value of a sample in this process's registry (0 when never recorded)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_counted(method, route, status):
    return sample("users_http_requests_total", method=method, route=route, status=str(status))


@contextlib.contextmanager
def log_lines():
    """Collect what the app's log handler writes; yield the list its lines go into."""
    handler = next(h for h in logging.getLogger(APP_LOGGER).handlers
                   if h.get_name() == HANDLER_NAME)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    lines = []
    try:
        yield lines
    finally:
        handler.setStream(previous)
        lines.extend(stream.getvalue().splitlines())


class ObservedTestCase(unittest.TestCase):
    """An app of `settings` over TestingConfig, its engine disposed at the end."""

    def make_app(self, config=TestingConfig, **settings):
        app = app_with(config, **settings)
        self.addCleanup(self.dispose, app)
        return app

    def dispose(self, app):
        with app.app_context():
            dispose_engines()

    def with_tables(self, app):
        """Create the tables on `app`'s database, dropped at the end."""
        with app.app_context():
            db.create_all()
        self.addCleanup(self.drop_tables, app)

    def drop_tables(self, app):
        with app.app_context():
            db.session.remove()
            db.drop_all()


class TestRequestIds(BaseTestCase):

    def test_a_well_formed_id_comes_back(self):
        """Ensure a client's well-formed X-Request-ID is echoed unchanged."""
        for given in ("abc", "req.2026-12-08_01", "x" * 64):
            with self.subTest(given=given):
                response = answer(self.client, "GET", "/users/ping",
                                  headers={"X-Request-ID": given})
                self.assertEqual(response.headers.getlist("X-Request-ID"), [given])

    def test_an_id_is_made_when_missing_or_malformed(self):
        """Ensure a missing, empty, too long or unsafe X-Request-ID is replaced by a new one."""
        seen = set()
        for given in (None, "", "x" * 65, "two words", 'quote"d', "<b>", "caf\u00e9"):
            with self.subTest(given=given):
                headers = {} if given is None else {"X-Request-ID": given}
                response = answer(self.client, "GET", "/users/ping", headers=headers)
                made = response.headers["X-Request-ID"]
                self.assertRegex(made, MADE_ID)
                seen.add(made)
        self.assertEqual(len(seen), 7)

    def test_every_error_carries_the_id(self):
        """Ensure 4xx, 500 and the answers of a route that failed carry the request's ID."""
        self.app.add_url_rule("/boom", "boom", lambda: 1 / 0)
        as_json = {"content_type": "application/json"}
        requests = [("GET", "/users/9", {}), ("GET", "/nowhere", {}),
                    ("PUT", "/users/ping", {}), ("POST", "/users", {"data": "{", **as_json}),
                    ("POST", "/users", {"json": {"email": "no@name.org"}}),
                    ("POST", "/users", {"data": "x" * (65 * 1024), **as_json}),
                    ("GET", "/boom", {})]
        statuses = []
        with self.assertLogs("project.errors", "ERROR"):  # the 500's
            for method, path, options in requests:
                with self.subTest(method=method, path=path):
                    response = answer(self.client, method, path,
                                      headers={"X-Request-ID": "err-1"}, **options)
                    statuses.append(response.status_code)
                    self.assertEqual(response.headers.getlist("X-Request-ID"), ["err-1"])
        self.assertEqual(statuses, [404, 404, 405, 400, 400, 413, 500])


class TestUnavailableDatabase(ObservedTestCase):

    def test_a_503_carries_the_id_and_its_lines_too(self):
        """Ensure the 503 of a database away has the ID, and so has the warning logged."""
        app = self.make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_URL, LOG_FORMAT="json")
        with log_lines() as lines:
            response = answer(app.test_client(), "POST", "/users",
                              json={"username": "ann", "email": "ann@example.org"},
                              headers={"X-Request-ID": "down-1"})
        self.assertEqual((response.status_code, response.headers["X-Request-ID"]),
                         (503, "down-1"))
        logged = [json.loads(line) for line in lines]
        self.assertEqual([(line["logger"], line["request_id"], line["route"])
                          for line in logged],
                         [("project.errors", "down-1", "/users")])
        self.assertNotIn("@", "\n".join(lines))


class TestAccessLines(ObservedTestCase):

    def test_json_lines_carry_every_field_and_no_email(self):
        """Ensure each request writes one JSON access line with its fields, and no email."""
        app = self.make_app(LOG_FORMAT="json", LOG_LEVEL="INFO")
        client = app.test_client()
        self.with_tables(app)
        new_user = {"username": "ann", "email": "ann@example.org"}
        with log_lines() as lines:
            answers = [answer(client, "POST", "/users", json=new_user),
                       answer(client, "POST", "/users", json=new_user),
                       answer(client, "GET", "/users/1"),
                       answer(client, "GET", "/users/ann@example.org"),
                       answer(client, "GET", "/users?after=ann@example.org")]
        self.assertEqual([a.status_code for a in answers], [201, 400, 200, 404, 400])
        logged = [json.loads(line) for line in lines]
        self.assertTrue(all(line.keys() >= ACCESS_FIELDS for line in logged), logged)
        self.assertEqual([(line["method"], line["route"], line["status"]) for line in logged],
                         [("POST", "/users", 201), ("POST", "/users", 400),
                          ("GET", "/users/<user_id>", 200), ("GET", "/users/<user_id>", 404),
                          ("GET", "/users", 400)])
        self.assertEqual([line["request_id"] for line in logged],
                         [a.headers["X-Request-ID"] for a in answers])
        self.assertEqual({(line["level"], line["logger"]) for line in logged},
                         {("INFO", "project.access")})
        self.assertTrue(all(line["duration_ms"] >= 0 for line in logged))
        self.assertRegex(logged[0]["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
        self.assertNotIn("@", "\n".join(lines))

    def test_development_writes_readable_text(self):
        """Ensure development's lines are text naming the request, not JSON."""
        app = self.make_app(DevelopmentConfig, SQLALCHEMY_DATABASE_URI=test_database_url(),
                            LOG_LEVEL="INFO")
        with log_lines() as lines:
            answer(app.test_client(), "GET", "/users/ping", headers={"X-Request-ID": "dev-7"})
        self.assertEqual(len(lines), 1)
        self.assertRegex(lines[0], r" INFO project\.access \[dev-7\] GET /users/ping 200 "
                                   r"\d+\.\d ms$")

    def test_production_defaults_to_json(self):
        """Ensure ProductionConfig writes JSON and development and testing text by default."""
        self.assertEqual(ProductionConfig.LOG_FORMAT, "json")
        self.assertEqual((DevelopmentConfig.LOG_FORMAT, TestingConfig.LOG_FORMAT),
                         ("text", "text"))

    def test_bad_log_and_metrics_settings_are_one_line(self):
        """Ensure LOG_FORMAT, LOG_LEVEL and METRICS refuse what they do not know, in one line."""
        for settings, message in (
                ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of json, text, not 'xml'."),
                ({"LOG_LEVEL": "loud"},
                 "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'loud'."),
                ({"METRICS": "maybe"}, "METRICS must be on or off, not 'maybe'.")):
            with self.subTest(settings=settings), self.assertRaises(SettingError) as raised:
                self.make_app(**settings)
            self.assertEqual(str(raised.exception), message)


class TestRequestMetrics(BaseTestCase):

    def test_requests_are_counted_by_route_template(self):
        """Ensure a request is counted under its route's template and status, never its path."""
        user_id = add_user("ann", "ann@example.org").id

        def counts():
            return (requests_counted("GET", "/users/<user_id>", 200),
                    requests_counted("GET", "/users/<user_id>", 404),
                    requests_counted("GET", "unmatched", 404),
                    requests_counted("other", "unmatched", 405),
                    sample("users_http_request_duration_seconds_count",
                           method="GET", route="/users/<user_id>"))
        before = counts()
        for path in (f"/users/{user_id}", f"/users/{user_id}", "/users/77", "/nope/1"):
            answer(self.client, "GET", path)
        answer(self.client, "BREW", "/users/ping")
        self.assertEqual([b - a for a, b in zip(before, counts())], [2, 1, 1, 1, 3])
        routes = {s.labels.get("route") for metric in REGISTRY.collect() for s in metric.samples}
        self.assertFalse({route for route in routes if route and re.search(r"\d", route)})

    def test_in_flight_counts_the_request_being_answered(self):
        """Ensure a request is in flight while it runs, and no longer once answered."""
        seen = []
        self.app.add_url_rule("/in-flight", "in_flight",
                              lambda: seen.append(sample("users_http_requests_in_flight")) or "")
        before = sample("users_http_requests_in_flight")
        answer(self.client, "GET", "/in-flight")
        self.assertEqual(seen, [before + 1])
        self.assertEqual(sample("users_http_requests_in_flight"), before)

    def test_pool_in_use_follows_the_pool(self):
        """Ensure the connections-in-use gauge says what the pool has checked out."""
        add_user("ann", "ann@example.org")
        for path in ("/users", "/users/1", "/users/ping"):
            answer(self.client, "GET", path)
        db.session.remove()
        self.assertEqual(sample("users_db_pool_connections_in_use"), db.engine.pool.checkedout())
        with db.engine.connect():
            self.assertEqual(sample("users_db_pool_connections_in_use"),
                             db.engine.pool.checkedout())


class TestDatabaseErrorMetrics(ObservedTestCase):
    """A 503 counts its kind: unavailable, timeout (a statement's or the pool's), read-only."""

    def errors(self, kind):
        return sample("users_db_errors_total", kind=kind)

    def test_unreachable_is_unavailable(self):
        app = self.make_app(SQLALCHEMY_DATABASE_URI=UNREACHABLE_URL)
        before = self.errors("unavailable")
        with self.assertLogs("project.errors", "WARNING"):
            response = answer(app.test_client(), "GET", "/users/1")
        self.assertEqual((response.status_code, self.errors("unavailable") - before), (503, 1))

    def test_a_busy_pool_waits_then_times_out(self):
        """Ensure a checkout finding the pool full counts a wait, then a pool timeout."""
        app = self.make_app(DATABASE_POOL_SIZE=1, GUNICORN_THREADS=1, DATABASE_POOL_TIMEOUT=1)
        before = (sample("users_db_pool_waits_total"), sample("users_db_pool_timeouts_total"),
                  self.errors("timeout"))
        with app.app_context(), db.engine.connect():
            with self.assertLogs("project.errors", "WARNING"):
                response = answer(app.test_client(), "GET", "/users/1")
        after = (sample("users_db_pool_waits_total"), sample("users_db_pool_timeouts_total"),
                 self.errors("timeout"))
        self.assertEqual(response.status_code, 503)
        self.assertEqual([b - a for a, b in zip(before, after)], [1, 1, 1])

    def test_a_cancelled_statement_is_a_timeout(self):
        """Ensure a statement cut by DATABASE_STATEMENT_TIMEOUT counts as a timeout."""
        app = self.make_app(DATABASE_STATEMENT_TIMEOUT=200)
        self.with_tables(app)
        admin = create_engine(test_database_url(), poolclass=NullPool)
        self.addCleanup(admin.dispose)
        before = self.errors("timeout")
        with admin.begin() as locking:
            locking.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
            with self.assertLogs("project.errors", "WARNING"):
                response = answer(app.test_client(), "GET", "/users/1")
        self.assertEqual((response.status_code, self.errors("timeout") - before), (503, 1))

    def test_a_refused_write_is_read_only(self):
        """Ensure a write the database refuses as read-only counts as read_only."""
        app = self.make_app()
        self.with_tables(app)
        admin = create_engine(test_database_url(), poolclass=NullPool,
                              isolation_level="AUTOCOMMIT")
        self.addCleanup(admin.dispose)
        name = admin.url.database
        before = self.errors("read_only")
        with admin.connect() as connection:
            connection.execute(text(
                f'ALTER DATABASE "{name}" SET default_transaction_read_only = on'))
        self.dispose(app)  # its connections opened before: new ones are read-only
        try:
            with self.assertLogs("project.errors", "WARNING"):
                response = answer(app.test_client(), "POST", "/users",
                                  json={"username": "ann", "email": "ann@example.org"})
        finally:
            with admin.connect() as connection:
                # This session began read-only too.
                connection.execute(text("SET default_transaction_read_only = off"))
                connection.execute(text(
                    f'ALTER DATABASE "{name}" SET default_transaction_read_only TO DEFAULT'))
            self.dispose(app)
        self.assertEqual((response.status_code, self.errors("read_only") - before), (503, 1))

    def test_metrics_off_records_nothing(self):
        """Ensure METRICS=off counts no request and no database error."""
        app = self.make_app(METRICS="off", SQLALCHEMY_DATABASE_URI=UNREACHABLE_URL)
        before = (requests_counted("GET", "/users/<user_id>", 503), self.errors("unavailable"))
        with self.assertLogs("project.errors", "WARNING"):
            response = answer(app.test_client(), "GET", "/users/1")
        self.assertEqual(response.status_code, 503)
        self.assertEqual((requests_counted("GET", "/users/<user_id>", 503),
                          self.errors("unavailable")), before)


if __name__ == "__main__":
    unittest.main()
