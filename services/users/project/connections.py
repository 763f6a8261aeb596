"""The app's one pool of database connections, and what travels with each transaction.

Everything the app does draws from Flask-SQLAlchemy's engine: the API's statements
(`api_cursor`, on the driver's cursor), the ORM session, readiness, the commands. A
worker so opens at most its pool's connections (`project.config.pool_options`).

On PostgreSQL the pool's connections autocommit (`project.config`): the API's
statements need no transaction around them, and a connection left in autocommit costs
nothing per request, where switching psycopg2's `autocommit` releases the GIL each time
(under gunicorn's threads, that cost a tenth of a read's throughput). The ORM session
runs its transactions on the engine's transactional twin (`project.extensions.Session`),
which switches a connection to READ COMMITTED for as long as it holds it.

The request's statement timeout goes with every transaction as `SET LOCAL`, never with
the connection (a startup parameter, a session `SET`): PgBouncer's transaction pooling
refuses startup parameters and may run each transaction on another server connection,
whatever role connects. The API's statements carry it in the same round trip
(`SET LOCAL ...; <statement>`, one implicit transaction); an ORM transaction sends it
first. Connections the server closed are swapped out before use, without a round trip.
"""

import threading
import weakref

from flask import current_app
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

from project.extensions import FOR_SESSIONS, refuse_stale_engine
from project.polling import has_input
from project.statements import BlockCursor, autocommits

# Where `register_connections` keeps the app's `ThreadConnections` and the text that
# precedes each API statement.
API_CONNECTIONS = "users.api_connections"
STATEMENT_PREFIX = "users.statement_prefix"


class Kept:
    """A thread's token for its kept connection: when the thread's copy of
    `ThreadConnections` goes, so does the token, and the connection goes back to the pool.

    Explicitly, as SQLAlchemy asks of pooled connections, rather than through its
    fallback for connections the garbage collector finds. One token, and one finalizer,
    for the thread's life, rather than a finalizer made and detached on every request.
    """

    def __init__(self, held):
        weakref.finalize(self, hand_back, held)


def hand_back(held):
    while held:
        held.pop().close()


class ThreadConnections(threading.local):
    """Each thread's pooled connection for the API, kept from one request to the next.

    A connection stays checked out of the engine's pool, and counted by it, while its
    thread serves requests: checking one out and back in for every request cost a read
    about a tenth of its throughput under gunicorn's threads (make bench, the same
    rounds). It is kept only where the pool has a connection for every thread
    (`keep`), so that no thread ever waits for another's; otherwise each block gets
    its own, as `pooled_cursor` lends them. The thread's ORM session takes it back to
    the pool before it asks for one (`release`, through `project.extensions.Session`),
    a thread that ends hands it back, and one the server closed is replaced.

    Every API statement passes through `lend` and `take_back`, so they work on the
    thread's list (`held`) in place: methods around it cost more instructions than the
    list operations themselves (callgrind, docs/benchmarks.md).
    """

    def __init__(self, engine, keep):
        self.dialect = engine.dialect
        self.engine = engine
        self.keep = keep
        # The kept connection, if any: at most one between blocks.
        self.held = []
        self.token = Kept(self.held)

    def lend(self):
        held = self.held
        if held:
            connection = held.pop()
            if not is_closed_by_server(connection.dbapi_connection):
                return connection
            connection.invalidate()
            connection.close()
        return self.engine.raw_connection()

    def take_back(self, connection):
        if not (self.keep and connection.is_valid):
            connection.close()
            return
        held = self.held
        # Blocks within blocks lend several: the thread keeps the last one handed back.
        if held:
            hand_back(held)
        held.append(connection)

    def release(self):
        """Hand this thread's kept connection back to the pool."""
        hand_back(self.held)


def register_connections(app, engine):
    """Give `app` its API connections; have every transaction carry the statement timeout."""
    prefix = ""
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    # SQLite's pools are per thread or one connection: nothing to keep.
    keep = "pool_size" in options and (options["pool_size"] + options["max_overflow"]
                                       >= app.config["GUNICORN_THREADS"])
    connections = app.extensions[API_CONNECTIONS] = ThreadConnections(engine, keep)
    if engine.dialect.name == "postgresql":
        limit = f"SET LOCAL statement_timeout = {app.config['DATABASE_STATEMENT_TIMEOUT']}"
        prefix = limit + "; "
        event.listen(engine, "checkout", replace_if_closed)
        event.listen(engine, "begin", lambda connection: limit_transaction(connection, limit))
        FOR_SESSIONS[engine] = (engine.execution_options(isolation_level="READ COMMITTED"),
                                connections.release)
    app.extensions[STATEMENT_PREFIX] = prefix


def limit_transaction(connection, limit):
    """Start a transaction with the statement timeout; an autocommit connection has none."""
    if not autocommits(connection.connection):
        connection.exec_driver_sql(limit)


def api_cursor():
    """Return a context giving the API's statements a cursor on the app's pool."""
    app = current_app._get_current_object()
    refuse_stale_engine(app)
    return BlockCursor(app.extensions[API_CONNECTIONS], app.extensions[STATEMENT_PREFIX])


def replace_if_closed(dbapi_connection, connection_record, connection_proxy):
    """Have the pool swap a connection the server closed for a new one.

    This does the job of `pool_pre_ping` without its `SELECT 1` round trip on every
    checkout. A server that ends a connection (a restart, `pg_terminate_backend`, an
    idle timeout, a restart of PgBouncer in front of it) sends a last message or
    closes the socket, so a pooled connection with anything to read is finished, and
    one `poll` tells.
    """
    if is_closed_by_server(dbapi_connection):
        # SQLAlchemy's documented signal: discard this connection, check out another.
        raise DisconnectionError("PostgreSQL closed this pooled connection.")


def is_closed_by_server(dbapi_connection):
    return bool(dbapi_connection.closed) or has_input(dbapi_connection.fileno())
