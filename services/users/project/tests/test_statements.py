"""Statements on the driver's cursor answer and fail as SQLAlchemy's `Connection` would."""

import os
import tempfile
import time
import unittest

from sqlalchemy import (Column, Integer, MetaData, String, Table, TypeDecorator, bindparam,
                        create_engine, insert, text)
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from project import db
from project.api import store
from project.connections import STATEMENT_PREFIX, api_cursor
from project.statements import BlockCursor, PerBlock, Statement, pooled_cursor, row_builder
from project.tests.base import BaseTestCase, test_database_url
from project.tests.support import free_port
from project.tests.utils import add_user


def through_sqlalchemy(engine, statement, **params):
    """What `Connection.execute` makes of `statement`: the rows as dicts."""
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(statement.clause, params)]


class SameRowsAsSQLAlchemy:
    """Mixed into a test case whose `engine` holds three users, one of them inactive, and
    whose `prefix` is what the app sends before each statement there."""

    def cursor(self):
        return pooled_cursor(self.engine, self.prefix)

    def assert_same_rows(self, statement, **params):
        with self.cursor() as cursor:
            found = cursor.run(statement, **params)
        self.assertEqual(found, through_sqlalchemy(self.engine, statement, **params))
        return found

    def test_rows_by_id(self):
        """Ensure a read by id gives the row, types converted, as SQLAlchemy gives it."""
        found = self.assert_same_rows(store.USER_BY_ID, id=2)
        self.assertEqual(found, [{"id": 2, "username": "sam", "email": "sam@mherman.org",
                                  "active": False}])
        self.assertIs(found[0]["active"], False)

    def test_rows_in_batches(self):
        """Ensure the keyset batch (with its LIMIT, and SQLite's OFFSET) reads as SQLAlchemy."""
        found = self.assert_same_rows(store.USERS_AFTER, after=1, size=1)
        self.assertEqual([row["username"] for row in found], ["sam"])
        self.assertEqual(len(self.assert_same_rows(store.ALL_USERS)), 3)

    def test_insert_fills_defaults_and_commits(self):
        """Ensure an insert takes the column's default and lasts after the block."""
        with self.cursor() as cursor:
            self.assertEqual(cursor.run(store.INSERT_USER, username="new",
                                        email="new@mherman.org"), [])
        with self.engine.connect() as connection:
            active = connection.execute(
                text("select active from users where username = 'new'")).scalar_one()
        self.assertIs(bool(active), True)

    def test_error_in_block_keeps_only_whole_statements(self):
        """Ensure a block that fails after a write keeps it only where each statement is its
        own transaction (a prefix: PostgreSQL); otherwise it leaves nothing behind."""
        with self.assertRaises(KeyError):
            with self.cursor() as cursor:
                cursor.run(store.INSERT_USER, username="half", email="half@mherman.org")
                raise KeyError("after the write")
        usernames = [row["username"]
                     for row in through_sqlalchemy(self.engine, store.ALL_USERS)]
        self.assertEqual("half" in usernames, bool(self.prefix))
        self.assertEqual(self.engine.pool.checkedout(), 0)

    def test_duplicate_is_sqlalchemy_integrity_error(self):
        """Ensure a duplicate raises SQLAlchemy's IntegrityError, the SQL without values."""
        with self.assertRaises(IntegrityError) as raised:
            with self.cursor() as cursor:
                cursor.run(store.INSERT_USER, username="michael", email="other@mherman.org")
        self.assertEqual(store.duplicated_field(raised.exception), "username")
        self.assertIn("INSERT INTO users", raised.exception.statement)
        self.assertNotIn("other@mherman.org", str(raised.exception))
        self.assertEqual(self.engine.pool.checkedout(), 0)


def seed(engine):
    with engine.begin() as connection:
        for username, active in (("michael", True), ("sam", False), ("jo", True)):
            connection.execute(text("insert into users (username, email, active) "
                                    "values (:u, :e, :a)"),
                               {"u": username, "e": f"{username}@mherman.org", "a": active})


class TestOnPostgreSQL(SameRowsAsSQLAlchemy, BaseTestCase):

    def setUp(self):
        super().setUp()
        self.engine = db.engine
        self.prefix = self.app.extensions[STATEMENT_PREFIX]
        seed(self.engine)

    def test_prefix_applies_to_its_statement_only(self):
        """Ensure SET LOCAL reaches its statement alone; the connection stays in autocommit."""
        setting = Statement(text("select current_setting('statement_timeout') as value")
                            .columns(value=String))
        with self.cursor() as cursor:
            self.assertEqual(cursor.run(setting), [{"value": "5s"}])
            raw = cursor.dbapi_cursor.connection
        self.assertTrue(raw.autocommit)
        with pooled_cursor(self.engine) as cursor:
            self.assertIs(cursor.dbapi_cursor.connection, raw)
            self.assertEqual(cursor.run(setting), [{"value": "0"}])

    def test_api_cursor_is_the_apps_pool(self):
        """Ensure the API draws on the app's one engine, nothing of its own."""
        with api_cursor() as cursor:
            cursor.run(store.USER_BY_ID, id=1)
            self.assertEqual(self.engine.pool.checkedout(), 1)
        # Kept for the thread's next request, still counted by the pool.
        self.assertEqual(self.engine.pool.checkedout(), 1)


class TestOnPostgreSQLInTransactions(SameRowsAsSQLAlchemy, BaseTestCase):
    """A driver connection that does not autocommit: each block ends in its commit."""

    prefix = ""

    def setUp(self):
        super().setUp()
        self.engine = create_engine(test_database_url())
        seed(self.engine)

    def tearDown(self):
        self.engine.dispose()
        super().tearDown()

    def test_connection_is_in_transactions(self):
        """Ensure these tests run where the block has to commit."""
        with self.cursor() as cursor:
            self.assertIs(cursor.dbapi_cursor.connection.autocommit, False)


class TestOnSQLite(SameRowsAsSQLAlchemy, unittest.TestCase):
    prefix = ""

    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.engine = create_engine("sqlite:///" + os.path.join(folder.name, "users.db"))
        self.addCleanup(self.engine.dispose)
        db.metadata.create_all(self.engine)
        seed(self.engine)


class TestLostConnections(BaseTestCase):

    def test_connection_lost_mid_block_is_invalidated(self):
        """Ensure a connection that dies under a request raises OperationalError, marked
        invalidated, and that the pool hands out a new connection afterwards."""
        add_user("michael", "michael@mherman.org")
        admin = create_engine(test_database_url())
        self.addCleanup(admin.dispose)
        pid_query = Statement(text("select pg_backend_pid() as pid").columns(pid=Integer))
        with self.assertRaises(OperationalError) as raised:
            with api_cursor() as cursor:
                pid = cursor.run(pid_query)[0]["pid"]
                with admin.connect() as connection:
                    connection.execute(text("select pg_terminate_backend(:pid)"),
                                       {"pid": pid})
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline:
                    cursor.run(store.USER_BY_ID, id=1)
                    time.sleep(0.05)
        self.assertTrue(raised.exception.connection_invalidated)
        with api_cursor() as cursor:
            self.assertNotEqual(cursor.run(pid_query)[0]["pid"], pid)
            self.assertEqual(cursor.run(store.USER_BY_ID, id=1)[0]["username"], "michael")

    def test_connection_closed_before_the_block_goes_back_invalidated(self):
        """Ensure a connection that fails before the block starts is given back to the
        pool, marked invalidated, and that the pool hands out a new connection afterwards."""

        class ClosedOnArrival(PerBlock):
            """Lend pooled connections whose driver connection is already closed."""

            def __init__(self, engine):
                super().__init__(engine)
                self.lend = lambda: closed(engine.raw_connection())

        def closed(connection):
            connection.driver_connection.close()
            return connection

        connections = ClosedOnArrival(db.engine)
        checked_out = db.engine.pool.checkedout()
        with self.assertRaises(InterfaceError) as raised:
            with BlockCursor(connections):
                self.fail("the block ran on a closed connection")
        self.assertTrue(raised.exception.connection_invalidated)
        self.assertEqual(db.engine.pool.checkedout(), checked_out)
        with pooled_cursor(db.engine) as cursor:
            self.assertEqual(cursor.run(store.USER_BY_ID, id=1), [])

    def test_unreachable_server_is_sqlalchemy_operational_error(self):
        """Ensure failing to connect raises SQLAlchemy's OperationalError, not the driver's."""
        engine = create_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/x")
        self.addCleanup(engine.dispose)
        with self.assertRaises(OperationalError) as raised:
            with pooled_cursor(engine):
                pass
        self.assertIn("127.0.0.1", str(raised.exception.orig))


class TestCompiling(unittest.TestCase):

    def test_computed_defaults_are_refused(self):
        """Ensure a statement whose default must be computed per call is refused, not run
        without it."""
        table = Table("stamped", MetaData(), Column("id", Integer, primary_key=True),
                      Column("at", Integer, default=lambda: int(time.time())))
        engine = create_engine("sqlite://")
        self.addCleanup(engine.dispose)
        with self.assertRaises(ValueError):
            Statement(insert(table).values(id=bindparam("id"))).compiled(engine.dialect)

    def test_each_value_is_converted_once(self):
        """Ensure a column default and a call's own value each get the type's conversion
        once: the default when compiled, the value on every call."""

        class Marked(TypeDecorator):
            impl = String
            cache_ok = True

            def process_bind_param(self, value, dialect):
                return None if value is None else value + "!"

        table = Table("marked", MetaData(), Column("id", Integer, primary_key=True),
                      Column("label", Marked, default="plain"))
        engine = create_engine("sqlite://")
        self.addCleanup(engine.dispose)
        compiled = Statement(insert(table).values(id=bindparam("id"))).compiled(engine.dialect)
        self.assertEqual(compiled.parameters({"id": 1}), (1, "plain!"))
        self.assertEqual(compiled.parameters({"id": 2}), (2, "plain!"))
        self.assertEqual(compiled.parameters({"id": 3, "label": "own"}), (3, "own!"))

    def test_rows_keep_any_column_name(self):
        """Ensure rows are built right whatever their columns are called, quotes included."""
        keys = ("id", "it's", 'say "hi"', "back\\slash")
        self.assertEqual(row_builder(keys)((1, 2, 3, 4)),
                         {"id": 1, "it's": 2, 'say "hi"': 3, "back\\slash": 4})
        self.assertEqual(row_builder(())(()), {})

    def test_compiled_once_per_dialect(self):
        """Ensure each dialect gets its own SQL (paramstyles differ), each compiled once."""
        sqlite = create_engine("sqlite://")
        self.addCleanup(sqlite.dispose)
        statement = Statement(store.USER_BY_ID.clause)
        on_sqlite = statement.compiled(sqlite.dialect)
        postgresql = create_engine(test_database_url())
        self.addCleanup(postgresql.dispose)
        on_postgresql = statement.compiled(postgresql.dialect)
        self.assertIs(statement.compiled(sqlite.dialect), on_sqlite)
        self.assertTrue(on_sqlite.sql.endswith("users.id = ?"))
        self.assertTrue(on_postgresql.sql.endswith("users.id = %(id)s"))
