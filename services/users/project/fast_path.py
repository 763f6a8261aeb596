"""The fast path: the store's statements run straight on psycopg2, in one round trip each.

What it does: each SQLAlchemy Core statement of `project.api.store` is compiled once to
psycopg2's SQL. A call runs that SQL on the cursor of a pooled connection that its
thread keeps, in autocommit, after `SET LOCAL statement_timeout` in the same string
(PostgreSQL runs the two as one implicit transaction), and returns the rows as psycopg2
gives them, tuples.
What fails leaves as the SQLAlchemy exception `db.session.execute` would raise.

Why it exists: on the session, every request checks a connection out of the pool and
back in, sends BEGIN and SET LOCAL before its statement and ends the transaction after
it, and builds an execution context, a `Result` and `Row`s. For the API's one-row reads
and writes that is most of what a request costs beyond a bare Flask app.

What removing it costs: DATABASE_FAST_PATH=off runs the same store functions on the
session (`project.session_path`); docs/benchmarks.md has both paths' throughput, measured
side by side. The unit suite runs on both paths in CI, so the two give the same answers.

It runs only on psycopg2, and only columns whose values psycopg2 converts as SQLAlchemy
does (`NATIVE_TYPES`): it refuses any other when it compiles a statement.
"""

import select
import threading
import weakref

import psycopg2
from sqlalchemy import Boolean, Insert, Integer, Select, String, exc

from project.database import closed_by_server, statement_timeout_sql
from project.metrics import NO_POOL_WATCH

# Column types whose values psycopg2 takes and gives back exactly as SQLAlchemy's
# session does, with no conversion on either side.
NATIVE_TYPES = (Integer, String, Boolean)


class FastPath:
    """Run Core statements on the driver's cursor of a connection kept by each thread."""

    def __init__(self, engine, statement_timeout, pool_watch=NO_POOL_WATCH):
        self.engine = engine
        self.dialect = engine.dialect
        self.prefix = statement_timeout_sql(statement_timeout) + "; "
        self.compiled = {}
        self.kept = KeptConnection(engine, pool_watch)

    def rows(self, statement, **params):
        """Run `statement` with `params`; return its rows as tuples (none for a write)."""
        sql, values = self.compiled.get(statement) or self.compile(statement)
        try:
            with self.kept.connection().dbapi_connection.cursor() as cursor:
                cursor.execute(sql, {**values, **params})
                return [] if cursor.description is None else cursor.fetchall()
        except psycopg2.Error as error:
            raise self.kept.failed(error, sql) from error

    def write(self, statement, **params):
        """Run a write: it commits by itself, the connection being in autocommit."""
        self.rows(statement, **params)

    def release(self):
        """Hand this thread's kept connection back to the pool."""
        self.kept.release()

    def compile(self, statement):
        """Compile `statement` for psycopg2 once; return its SQL and the values it sends.

        Those are the values the statement holds (a LIMIT's), then, for an INSERT, the
        defaults of the columns a call leaves out; a call's own values go over them.
        """
        compiled = statement.compile(dialect=self.dialect)
        refuse_other_types(statement, compiled)
        values = {**compiled.params, **insert_defaults(statement, compiled)}
        entry = self.compiled[statement] = (self.prefix + str(compiled), values)
        return entry


class KeptConnection(threading.local):
    """Each thread's pooled connection, switched to autocommit once and kept.

    Kept from one call to the next, so no call checks one out of the pool or switches
    it, and still counted by the pool (`project.settings` sizes it a connection per
    thread). One the server closed is replaced before use. A thread that ends hands
    its connection back, through `ThreadEnd`.
    """

    def __init__(self, engine, pool_watch):
        self.engine = engine
        self.pool_watch = pool_watch
        self.held = []  # this thread's connection and its socket's poller, once it has one
        self.thread_end = ThreadEnd(self.held)

    def connection(self):
        if self.held:
            connection, poller = self.held
            if not closed_by_server(connection.dbapi_connection, poller):
                return connection
            self.release()
        self.pool_watch.before_checkout()
        connection = self.engine.raw_connection()
        # From here on every statement commits itself: no BEGIN or COMMIT round trips.
        connection.dbapi_connection.autocommit = True
        poller = select.poll()
        poller.register(connection.dbapi_connection.fileno(), select.POLLIN)
        self.held[:] = [connection, poller]
        return connection

    def failed(self, error, sql):
        """Return `error` as SQLAlchemy's; a connection it broke is not kept."""
        lost = bool(self.held) and bool(self.held[0].dbapi_connection.closed)
        if lost:
            self.release()
        return as_sqlalchemy_error(error, sql, lost)

    def release(self):
        hand_back(self.held)


class ThreadEnd:
    """Lives as long as its thread's copy of `KeptConnection`, then hands the connection back."""

    def __init__(self, held):
        weakref.finalize(self, hand_back, held)


def hand_back(held):
    """Close the kept connection in `held` for good: the pool's others run transactions."""
    if held:
        connection, _ = held
        held.clear()
        connection.invalidate()


def refuse_other_types(statement, compiled):
    """Stop at a column of a type whose values psycopg2 might give otherwise than SQLAlchemy."""
    columns = list(statement.selected_columns) if isinstance(statement, Select) else []
    if isinstance(statement, Insert):
        columns += [column for column in statement.table.columns if column.key in compiled.params]
    for column in columns:
        if not isinstance(column.type, NATIVE_TYPES):
            raise ValueError(
                f"The fast path runs columns of {', '.join(t.__name__ for t in NATIVE_TYPES)} "
                f"only, not {column} ({column.type}): add its type to "
                "project.fast_path.NATIVE_TYPES if psycopg2 gives its values as SQLAlchemy "
                "does, or set DATABASE_FAST_PATH=off.")


def insert_defaults(statement, compiled):
    """Return the Python-side defaults an INSERT sends for the columns a call leaves out."""
    if not isinstance(statement, Insert):
        return {}
    defaults = {}
    for column in statement.table.columns:
        if column.key in compiled.params and column.default is not None:
            if not column.default.is_scalar:
                raise ValueError(f"The fast path sends fixed defaults only, not {column}'s.")
            defaults[column.key] = column.default.arg
    return defaults


def as_sqlalchemy_error(error, sql, lost):
    """Wrap a psycopg2 error in SQLAlchemy's exception of the same PEP 249 kind.

    As the session would: a duplicate is an `IntegrityError`, a refused connection or a
    cancelled statement an `OperationalError`; the parameters (emails) stay hidden.
    """
    for kind in type(error).__mro__:
        wrapper = getattr(exc, kind.__name__, None)
        if isinstance(wrapper, type) and issubclass(wrapper, exc.DBAPIError):
            break
    else:
        wrapper = exc.DBAPIError
    return wrapper(sql, None, error, hide_parameters=True, connection_invalidated=lost)
