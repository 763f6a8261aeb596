"""The fast path answers and fails as the session does, on connections its threads keep.

Each test builds its own `FastPath` on the test app's engine, so these run the same
whichever path DATABASE_FAST_PATH gives the rest of the suite.
"""

import threading
import time
import unittest

from sqlalchemy import (Column, DateTime, Integer, MetaData, String, Table, bindparam,
                        create_engine, insert, select, text)
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool

from harness.ports import free_port
from project import db
from project.api import store
from project.api.store import QUERY_PATH
from project.config import TestingConfig
from project.fast_path import FastPath
from project.session_path import SessionPath
from project.settings import SettingError
from project.tests.base import BaseTestCase, test_database_url
from project.tests.support import app_with, child_env, run_manage
from project.tests.utils import add_user

BACKEND_PID = text("select pg_backend_pid() as pid")
STATEMENT_TIMEOUT = text("select current_setting('statement_timeout') as value")
# A statement without parameters: every user.
ALL_USERS = store.PUBLIC_USERS.order_by(store.USERS.c.id)


def seed_users():
    add_user("michael", "michael@mherman.org")
    db.session.add(store.User(username="sam", email="sam@mherman.org", active=False))
    db.session.commit()
    add_user("fletcher", "fletcher@notreal.com")
    db.session.remove()


class FastPathTestCase(BaseTestCase):

    def setUp(self):
        super().setUp()
        self.fast = FastPath(db.engine, statement_timeout=5000)
        self.addCleanup(self.fast.release)
        self.admin = create_engine(test_database_url(), poolclass=NullPool,
                                   isolation_level="AUTOCOMMIT")
        self.addCleanup(self.admin.dispose)

    def backend_pid(self):
        return self.fast.rows(BACKEND_PID)[0][0]

    def terminate(self, pid):
        """End server process `pid` from another connection; return once it has exited."""
        with self.admin.connect() as connection:
            connection.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
        self.wait_until_gone(pid)

    def terminate_when_sleeping(self, pid):
        """End server process `pid` once PostgreSQL shows it running pg_sleep."""
        deadline = time.monotonic() + 5
        with self.admin.connect() as connection:
            while time.monotonic() < deadline and not connection.execute(
                    text("select count(*) from pg_stat_activity where pid = :pid "
                         "and state = 'active' and query like '%pg_sleep%'"),
                    {"pid": pid}).scalar():
                time.sleep(0.01)
        self.terminate(pid)

    def wait_until_gone(self, pid):
        deadline = time.monotonic() + 5
        with self.admin.connect() as connection:
            while time.monotonic() < deadline:
                alive = connection.execute(
                    text("select count(*) from pg_stat_activity where pid = :pid"),
                    {"pid": pid}).scalar()
                if not alive:
                    return
                time.sleep(0.05)
        self.fail(f"backend {pid} did not exit")


class TestSameAnswersAsTheSession(FastPathTestCase):

    def setUp(self):
        super().setUp()
        seed_users()

    def assert_same_rows(self, statement, **params):
        found = self.fast.rows(statement, **params)
        self.assertEqual(found, SessionPath().rows(statement, **params))
        db.session.remove()
        return found

    def test_read_by_id(self):
        """Ensure a read by id gives the row as the session gives it, booleans as booleans."""
        found = self.assert_same_rows(store.USER_BY_ID, id=2)
        self.assertEqual(found, [(2, "sam", "sam@mherman.org", False)])
        self.assertIs(found[0][3], False)

    def test_reads_with_their_own_values(self):
        """Ensure a keyset batch, every user, and a LIMIT the statement holds read alike."""
        batch = self.assert_same_rows(store.USERS_AFTER, after=1, size=1)
        self.assertEqual([row[1] for row in batch], ["sam"])
        self.assertEqual(len(self.assert_same_rows(ALL_USERS)), 3)
        self.assertEqual(self.assert_same_rows(store.EMAIL_TAKEN, email="sam@mherman.org"),
                         [(2,)])

    def test_nothing_found(self):
        """Ensure a read that finds nothing is an empty list on both paths."""
        self.assertEqual(self.assert_same_rows(store.USER_BY_ID, id=99), [])

    def test_insert_takes_the_column_default_and_lasts(self):
        """Ensure an insert sends the column's default and is committed by itself."""
        self.fast.write(store.INSERT_USER, username="new", email="new@mherman.org")
        with db.engine.connect() as connection:
            active = connection.execute(
                text("select active from users where username = 'new'")).scalar_one()
        self.assertIs(active, True)

    def test_duplicate_is_sqlalchemy_integrity_error_without_values(self):
        """Ensure a duplicate raises SQLAlchemy's IntegrityError, its values hidden."""
        with self.assertRaises(IntegrityError) as raised:
            self.fast.write(store.INSERT_USER, username="michael", email="other@mherman.org")
        self.assertEqual(store.duplicated_field(raised.exception), "username")
        self.assertIsNone(raised.exception.params)
        self.assertNotIn("other@mherman.org", str(raised.exception))
        self.assertEqual(len(self.fast.rows(ALL_USERS)), 3)


class TestStatementTimeout(FastPathTestCase):

    def test_timeout_applies_to_its_statement_only(self):
        """Ensure SET LOCAL reaches the statement alone, on a connection in autocommit."""
        self.assertEqual(self.fast.rows(STATEMENT_TIMEOUT), [("5s",)])
        raw = self.fast.kept.connection().dbapi_connection
        self.assertIs(raw.autocommit, True)
        with raw.cursor() as cursor:
            cursor.execute("select current_setting('statement_timeout')")
            self.assertEqual(cursor.fetchone(), ("0",))

    def test_timeout_cancels_a_statement(self):
        """Ensure a statement past the timeout is cancelled, as SQLAlchemy's OperationalError."""
        impatient = FastPath(db.engine, statement_timeout=100)
        self.addCleanup(impatient.release)
        started = time.monotonic()
        with self.assertRaisesRegex(OperationalError, "statement timeout"):
            impatient.rows(text("select pg_sleep(2)"))
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(impatient.rows(text("select 1 as one")), [(1,)])


class TestKeptConnections(FastPathTestCase):

    def test_a_thread_keeps_one_connection_counted_by_the_pool(self):
        """Ensure a thread's calls run on one pooled connection, which the session does not get."""
        first = self.backend_pid()
        self.fast.write(store.INSERT_USER, username="michael", email="michael@mherman.org")
        self.assertEqual(self.backend_pid(), first)
        self.assertEqual(db.engine.pool.checkedout(), 1)
        session_pid = db.session.execute(BACKEND_PID).scalar()
        self.assertNotEqual(session_pid, first)
        self.assertFalse(db.session.connection().connection.dbapi_connection.autocommit)
        db.session.remove()

    def test_threads_keep_their_own(self):
        """Ensure two threads at once get two connections, each kept for its thread."""
        pids = {}
        both_running = threading.Barrier(2, timeout=10)

        def serve(name):
            pids[name] = [self.backend_pid()]
            both_running.wait()
            pids[name].append(self.backend_pid())

        threads = [threading.Thread(target=serve, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        self.assertEqual(pids["a"][0], pids["a"][1])
        self.assertEqual(pids["b"][0], pids["b"][1])
        self.assertNotEqual(pids["a"][0], pids["b"][0])

    def test_a_thread_that_ends_hands_its_connection_back(self):
        """Ensure the connection a finished thread kept is closed and no longer counted."""
        pids = []
        thread = threading.Thread(target=lambda: pids.append(self.backend_pid()))
        thread.start()
        thread.join(timeout=10)
        self.assertEqual(len(pids), 1)
        self.assertEqual(db.engine.pool.checkedout(), 0)
        self.wait_until_gone(pids[0])

    def test_release_hands_it_back(self):
        """Ensure `release` gives the thread's connection back, and the next call gets one."""
        first = self.backend_pid()
        self.fast.release()
        self.assertEqual(db.engine.pool.checkedout(), 0)
        self.assertNotEqual(self.backend_pid(), first)


class TestClosedConnections(FastPathTestCase):

    def test_closed_by_the_server_is_replaced_before_use(self):
        """Ensure a kept connection the server ended is swapped before the next call."""
        add_user("michael", "michael@mherman.org")
        stale = self.backend_pid()
        self.terminate(stale)
        self.assertEqual(self.fast.rows(store.USER_BY_ID, id=1)[0][1], "michael")
        self.assertNotEqual(self.backend_pid(), stale)
        self.assertEqual(db.engine.pool.checkedout(), 1)

    def test_lost_mid_statement_is_invalidated(self):
        """Ensure a connection that dies under a statement raises OperationalError, marked
        invalidated, and that the next call gets a new one."""
        pid = self.backend_pid()
        stopper = threading.Thread(target=self.terminate_when_sleeping, args=(pid,))
        stopper.start()
        self.addCleanup(stopper.join)
        with self.assertRaises(OperationalError) as raised:
            self.fast.rows(text("select pg_sleep(3)"))
        self.assertTrue(raised.exception.connection_invalidated)
        self.assertEqual(db.engine.pool.checkedout(), 0)
        self.assertNotEqual(self.backend_pid(), pid)

    def test_unreachable_server_is_sqlalchemy_operational_error(self):
        """Ensure failing to connect raises SQLAlchemy's OperationalError, not the driver's."""
        app = app_with(TestingConfig, SQLALCHEMY_DATABASE_URI=(
            f"postgresql://postgres@127.0.0.1:{free_port()}/users_test"))
        with app.app_context():
            unreachable = FastPath(db.engine, statement_timeout=5000)
            with self.assertRaises(OperationalError) as raised:
                unreachable.rows(store.USER_BY_ID, id=1)
        self.assertIn("Connection refused", str(raised.exception.orig))


class TestCompiling(unittest.TestCase):

    def setUp(self):
        self.metadata = MetaData()
        # Compiling needs the dialect only: this engine never connects.
        engine = create_engine(TestingConfig.SQLALCHEMY_DATABASE_URI)
        self.addCleanup(engine.dispose)
        self.fast = FastPath(engine, statement_timeout=5000)

    def test_compiled_once(self):
        """Ensure a statement is compiled the first time it runs, and reused after."""
        statement = select(store.USERS.c.id).limit(0)
        sql, values = self.fast.compile(statement)
        self.assertIs(self.fast.compiled[statement][0], sql)
        self.assertTrue(sql.startswith("SET LOCAL statement_timeout = 5000; SELECT users.id"))
        self.assertEqual(values, {"param_1": 0})

    def test_other_column_types_are_refused(self):
        """Ensure a column whose values psycopg2 might give otherwise is refused by name."""
        events = Table("events", self.metadata, Column("id", Integer, primary_key=True),
                       Column("at", DateTime))
        with self.assertRaisesRegex(ValueError, r"not events\.at \(DATETIME\)"):
            self.fast.compile(select(events.c.at))

    def test_computed_defaults_are_refused(self):
        """Ensure a default worked out per row (a callable) is refused: it is not sent."""
        tokens = Table("tokens", self.metadata, Column("id", Integer, primary_key=True),
                       Column("value", String(8), default=lambda: "x"))
        with self.assertRaisesRegex(ValueError, "fixed defaults only"):
            self.fast.compile(insert(tokens).values(id=bindparam("id")))


class TestANewColumn(FastPathTestCase):
    """The next lesson adds a column: the fast path reads and writes it with no change."""

    def setUp(self):
        super().setUp()
        self.metadata = MetaData()
        self.people = Table("people", self.metadata, Column("id", Integer, primary_key=True),
                            Column("name", String(128)), Column("password", String(255)),
                            Column("kind", String(16), default="person"))
        self.metadata.create_all(db.engine)
        self.addCleanup(self.metadata.drop_all, db.engine)

    def test_new_columns_come_through(self):
        """Ensure a new column is written, defaulted and read back like the session does."""
        self.fast.write(insert(self.people).values(name=bindparam("name"),
                                                   password=bindparam("password")),
                        name="ann", password="hash")
        statement = select(self.people).where(self.people.c.name == bindparam("name"))
        found = self.fast.rows(statement, name="ann")
        self.assertEqual(found, [(1, "ann", "hash", "person")])
        self.assertEqual(found, SessionPath().rows(statement, name="ann"))
        db.session.remove()


class TestChoosingThePath(unittest.TestCase):

    def query_path(self, **settings):
        app = app_with(TestingConfig, **settings)
        path = app.extensions[QUERY_PATH]
        with app.app_context():
            self.addCleanup(path.release)
        return path

    def test_fast_path_on_postgresql_unless_off(self):
        """Ensure DATABASE_FAST_PATH picks the fast path on PostgreSQL, and off the session."""
        self.assertIsInstance(self.query_path(DATABASE_FAST_PATH="on"), FastPath)
        self.assertIsInstance(self.query_path(DATABASE_FAST_PATH="off"), SessionPath)

    def test_sqlite_always_uses_the_session(self):
        """Ensure SQLite, which the fast path does not drive, runs on the session."""
        path = self.query_path(SQLALCHEMY_DATABASE_URI="sqlite://", DATABASE_FAST_PATH="on")
        self.assertIsInstance(path, SessionPath)

    def test_bad_switch_is_one_line(self):
        """Ensure a DATABASE_FAST_PATH that is neither on nor off stops a command with one line."""
        result = run_manage("seed_db", env=child_env(DATABASE_URL=test_database_url(),
                                                     DATABASE_FAST_PATH="fast"))
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stderr.strip(),
                         "Error: DATABASE_FAST_PATH must be on or off, not 'fast'.")

    def test_pool_smaller_than_the_threads_is_refused(self):
        """Ensure the fast path refuses a pool with fewer connections than threads."""
        with self.assertRaisesRegex(SettingError, r"^DATABASE_POOL_SIZE \+ DATABASE_MAX_OVERF"
                                                  r"LOW \(2\) must be at least GUNICORN_THR"):
            app_with(TestingConfig, GUNICORN_THREADS=4, DATABASE_POOL_SIZE=2,
                     DATABASE_FAST_PATH="on")

    def test_the_session_may_share_fewer(self):
        """Ensure the session path takes a pool smaller than the threads."""
        app = app_with(TestingConfig, GUNICORN_THREADS=4, DATABASE_POOL_SIZE=2,
                       DATABASE_FAST_PATH="off")
        with app.app_context():
            self.assertEqual(db.engine.pool.size(), 2)


if __name__ == "__main__":
    unittest.main()
