"""One error contract: every failure leaves as a JSend body."""

import logging
import traceback

from flask import current_app, jsonify
from sqlalchemy.exc import (DBAPIError, InterfaceError, OperationalError, SQLAlchemyError,
                            TimeoutError as PoolTimeoutError)
from werkzeug.exceptions import HTTPException

from project import metrics
from project.extensions import db

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = "Something went wrong. Please try again later."
DATABASE_UNAVAILABLE = "The database is unavailable. Please try again later."
DATABASE_READ_ONLY = "The database does not accept writes right now. Please try again later."
# SQLSTATE 25006: a standby not yet promoted, or default_transaction_read_only on.
READ_ONLY_SQL_TRANSACTION = "25006"
# SQLSTATE 57014: a statement cancelled, here by DATABASE_STATEMENT_TIMEOUT.
QUERY_CANCELED = "57014"
# Seconds a client should wait before asking again when the database is away.
RETRY_AFTER = "5"


class APIError(Exception):
    """A client error a view raises; `detail` says more than the course's message."""

    def __init__(self, message, status_code=400, detail=None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail


def jsend(status, message, status_code, **extra):
    """Build a JSend response with `status` ("fail" or "error") and `message`."""
    response = jsonify(status=status, message=message, **extra)
    response.status_code = status_code
    return response


def handle_api_error(error):
    extra = {"detail": error.detail} if error.detail else {}
    return jsend("fail", error.message, error.status_code, **extra)


def handle_http_exception(error):
    status = "fail" if error.code < 500 else "error"
    response = jsend(status, error.description, error.code)
    # Keep the headers Werkzeug gives an HTTP error, such as Allow on a 405.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def is_database_unavailable(error):
    """Say whether `error` means the database could not be reached or did not answer in time.

    OperationalError covers a refused or dropped connection and a cancelled
    (timed-out) statement; a pool timeout means no connection could be had.
    """
    if isinstance(error, (OperationalError, InterfaceError, PoolTimeoutError)):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def sqlstate(error):
    return getattr(getattr(error, "orig", None), "pgcode", None)


def is_database_read_only(error):
    """Say whether the database refused a write because it is read-only for now."""
    return sqlstate(error) == READ_ONLY_SQL_TRANSACTION


def unavailable_kind(error):
    """Say how the database was away: a timeout (a statement's, or no pooled connection
    in time) or unavailable (refused, dropped, gone)."""
    if isinstance(error, PoolTimeoutError) or sqlstate(error) == QUERY_CANCELED:
        return metrics.TIMEOUT
    return metrics.UNAVAILABLE


def handle_database_error(error):
    roll_back()
    if is_database_read_only(error):
        count_database_error(metrics.READ_ONLY)
        log.warning("Database read-only: %s", describe_failure(error))
        return unavailable(DATABASE_READ_ONLY)
    if not is_database_unavailable(error):
        log.error("Unhandled database error: %s\n%s", describe_failure(error),
                  "".join(traceback.format_tb(error.__traceback__)))
        return jsend("error", SOMETHING_WENT_WRONG, 500)
    count_database_error(unavailable_kind(error), isinstance(error, PoolTimeoutError))
    log.warning("Database unavailable: %s", describe(error))
    return unavailable(DATABASE_UNAVAILABLE)


def count_database_error(kind, pool_timeout=False):
    if current_app.config["METRICS"]:
        metrics.count_database_error(kind, pool_timeout)


def unavailable(message):
    """The JSend 503 for a database fault that passes: ask again after RETRY_AFTER."""
    response = jsend("error", message, 503)
    response.headers["Retry-After"] = RETRY_AFTER
    return response


def describe_failure(error):
    """Name a failed statement by its kinds, SQLSTATE and SQL, without any message.

    PostgreSQL's messages quote the statement as psycopg2 sent it, values (emails) filled
    in, so they stay out of the logs; the SQL logged has placeholders instead.
    """
    orig = getattr(error, "orig", None)
    kinds = type(error).__name__ + (f" from {type(orig).__name__}" if orig else "")
    sqlstate = getattr(orig, "pgcode", None)
    statement = getattr(error, "statement", None)
    return (kinds + (f" (SQLSTATE {sqlstate})" if sqlstate else "")
            + (f" in: {statement}" if statement else ""))


def describe(error):
    """Name a database fault in the driver's first line: no statement, no parameters."""
    reason = getattr(error, "orig", None) or error
    lines = str(reason).strip().splitlines()
    return f"{type(reason).__name__}: {lines[0] if lines else ''}"


def handle_unexpected_error(error):
    roll_back()
    log.exception("Unhandled error")
    return jsend("error", SOMETHING_WENT_WRONG, 500)


def roll_back():
    """Roll the session back; a connection that died must not turn the answer into a crash."""
    try:
        db.session.rollback()
    except SQLAlchemyError as error:
        log.warning("Rollback failed: %s", type(error).__name__)


def register_error_handlers(app):
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(SQLAlchemyError, handle_database_error)
    app.register_error_handler(Exception, handle_unexpected_error)
