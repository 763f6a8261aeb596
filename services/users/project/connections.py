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
first. Connections the server closed are swapped out at checkout, without a round trip.
"""

import select

from flask import current_app
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError

from project.extensions import IN_TRANSACTIONS, db
from project.statements import pooled_cursor

# Where `register_connections` keeps what precedes each API statement.
STATEMENT_PREFIX = "users.statement_prefix"


def register_connections(app, engine):
    """Have every transaction on `engine` carry the app's statement timeout."""
    prefix = ""
    if engine.dialect.name == "postgresql":
        limit = f"SET LOCAL statement_timeout = {app.config['DATABASE_STATEMENT_TIMEOUT']}"
        prefix = limit + "; "
        event.listen(engine, "checkout", replace_if_closed)
        event.listen(engine, "begin", lambda connection: limit_transaction(connection, limit))
        IN_TRANSACTIONS[engine] = engine.execution_options(isolation_level="READ COMMITTED")
    app.extensions[STATEMENT_PREFIX] = prefix


def limit_transaction(connection, limit):
    """Start a transaction with the statement timeout; an autocommit connection has none."""
    if not connection.connection.driver_connection.autocommit:
        connection.exec_driver_sql(limit)


def api_cursor():
    """Return a context giving the API's statements a cursor on the app's pool."""
    return pooled_cursor(db.engine, current_app.extensions[STATEMENT_PREFIX])


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
    if dbapi_connection.closed:
        return True
    poller = select.poll()
    poller.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))
