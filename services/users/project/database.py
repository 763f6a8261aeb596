"""What every connection of the app's PostgreSQL engine does, whichever path uses it.

- A pooled connection that the server closed (a restart, `pg_terminate_backend`, an
  idle timeout, PgBouncer restarted) is swapped for a new one when it is checked out:
  the server's last message, or the closed socket, leaves something to read on it,
  and one `select.poll` tells without the round trip `pool_pre_ping` would send.
- Every transaction starts with the request's statement timeout (`SET LOCAL`), never
  the connection: PgBouncer's transaction pooling refuses startup parameters and may
  run each transaction on another server connection.
"""

import select

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError


def register_database(engine, statement_timeout):
    """Have `engine`'s connections replaced when closed, and its transactions time-limited."""
    if engine.dialect.name != "postgresql":
        return
    event.listen(engine, "checkout", replace_if_closed)
    limit = statement_timeout_sql(statement_timeout)
    event.listen(engine, "begin", lambda connection: connection.exec_driver_sql(limit))


def statement_timeout_sql(milliseconds):
    """Return the statement that bounds each statement of a transaction (0: no bound)."""
    return f"SET LOCAL statement_timeout = {int(milliseconds)}"


def replace_if_closed(dbapi_connection, connection_record, connection_proxy):
    """Tell the pool to discard a connection the server closed, and check out another."""
    if closed_by_server(dbapi_connection):
        # SQLAlchemy's documented signal from a checkout listener: retry with a new one.
        raise DisconnectionError("PostgreSQL closed this pooled connection.")


def closed_by_server(dbapi_connection, poller=None):
    """Say whether an idle psycopg2 connection is finished: closed, or with input waiting.

    `poller` is a `select.poll` already registered for its socket, if the caller keeps one.
    """
    if dbapi_connection.closed:
        return True
    if poller is None:
        poller = select.poll()
        poller.register(dbapi_connection.fileno(), select.POLLIN)
    return bool(poller.poll(0))
