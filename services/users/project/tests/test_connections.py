"""The API's autocommit engine, and pooled connections PostgreSQL has closed."""

import time

from sqlalchemy import create_engine, text

from project import db
from project.connections import api_engine
from project.tests.base import BaseTestCase, test_database_url
from project.tests.utils import add_user


def backend_pid(engine):
    """Check a connection out of `engine`'s pool, note its server process, return it."""
    with engine.connect() as connection:
        return connection.execute(text("select pg_backend_pid()")).scalar()


class TestApiEngine(BaseTestCase):

    def test_api_statements_commit_on_their_own(self):
        """Ensure the API's engine autocommits: a statement needs no commit to last."""
        with api_engine().connect() as connection:
            connection.execute(text("insert into users (username, email) "
                                    "values ('auto', 'auto@mherman.org')"))
        db.session.remove()
        found = db.session.execute(text("select username from users")).scalars().all()
        self.assertEqual(found, ["auto"])

    def test_app_engine_keeps_transactions(self):
        """Ensure the app's own engine (ORM, migrations) rolls back what was not committed."""
        with db.engine.connect() as connection:
            connection.execute(text("insert into users (username, email) "
                                    "values ('gone', 'gone@mherman.org')"))
        self.assertEqual(self.client.get("/users").get_json()["data"]["users"], [])


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
        stale = backend_pid(api_engine())
        self.terminate(stale)
        response = self.client.get(f"/users/{user.id}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json()["data"]["username"], "michael")
        self.assertNotEqual(backend_pid(api_engine()), stale)

    def test_post_after_connection_closed(self):
        """Ensure a POST after its pooled connection was closed is stored, once."""
        self.terminate(backend_pid(api_engine()))
        response = self.client.post("/users", json={"username": "michael",
                                                    "email": "michael@mherman.org"})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(len(self.client.get("/users").get_json()["data"]["users"]), 1)

    def test_readiness_after_connection_closed(self):
        """Ensure the app's own engine (readiness, ORM) replaces a closed connection too."""
        db.session.remove()
        stale = backend_pid(db.engine)
        self.terminate(stale)
        self.assertEqual(self.client.get("/users/ready").status_code, 200)
        self.assertNotEqual(backend_pid(db.engine), stale)
