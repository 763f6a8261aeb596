"""PostgreSQL connections: an autocommit engine for the API, and no stale connection.

The API runs one statement per request, or only reads (`project.api.store`), so it
needs no transaction around them; a second engine whose connections autocommit spares
each request a BEGIN and a ROLLBACK round trip. The app's own engine (`db.engine`)
keeps transactions for the ORM session, the migrations and the commands.
"""

import select

from flask import current_app
from sqlalchemy import create_engine, event
from sqlalchemy.exc import DisconnectionError

# Where `register_connections` keeps the API's engine in `app.extensions`.
API_ENGINE = "users.api_engine"


def register_connections(app, engine):
    """Give `app` its API engine, and keep closed connections out of both pools.

    `engine` is the app's own; on SQLite (a file or memory in this process, with no
    round trips to spare) it serves the API too.
    """
    for_api = engine
    if engine.dialect.name == "postgresql":
        # Nothing to roll back on an autocommit connection: SQLAlchemy documents turning
        # the pool's reset on return off for exactly this case.
        for_api = create_engine(engine.url, isolation_level="AUTOCOMMIT",
                                pool_reset_on_return=None,
                                **app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        for pooled in (engine, for_api):
            event.listen(pooled, "checkout", replace_if_closed)
    app.extensions[API_ENGINE] = for_api


def api_engine():
    """Return the current app's engine for the API's statements."""
    return current_app.extensions[API_ENGINE]


def replace_if_closed(dbapi_connection, connection_record, connection_proxy):
    """Have the pool swap a connection the server closed for a new one.

    This does the job of `pool_pre_ping` without its `SELECT 1` round trip on every
    checkout. A server that ends a connection (a restart, `pg_terminate_backend`, an
    idle timeout) sends a last message or closes the socket, so a pooled connection
    with anything to read is finished, and one `poll` tells.
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
