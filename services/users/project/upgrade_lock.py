"""One migration runner at a time on a PostgreSQL database: an advisory lock, polled.

Alembic has no lock of its own, so two `db upgrade`s at once (replicas starting, a
rolling deploy, a person beside CI) race on the same DDL. The runner that holds this
session-level lock migrates; the others wait, then find nothing left to do. The lock
ends with its session, so a runner that dies frees it.

The lock is asked for with `pg_try_advisory_lock`, never waited on inside PostgreSQL:
a session blocked in `pg_advisory_lock` keeps a snapshot open, and the holder's
`CREATE INDEX CONCURRENTLY` would then wait for that snapshot forever (a deadlock
PostgreSQL cannot see). Each try is an instant statement on an autocommit connection
of its own.
"""

import contextlib
import logging
import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

# Any fixed number will do, as long as every runner uses the same one: "user" in ASCII.
LOCK_KEY = 0x75736572
TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
UNLOCK = text("SELECT pg_advisory_unlock(:key)")


class LockWaitExceeded(RuntimeError):
    """Another runner kept the lock longer than we were willing to wait."""


@contextlib.contextmanager
def upgrade_lock(connection, wait, poll=0.5):
    """Hold the migrations' advisory lock on `connection` while the block runs.

    `connection` is used for nothing else; `wait` bounds, in seconds, how long to poll
    for a lock another runner holds.
    """
    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    deadline = time.monotonic() + wait
    waiting = False
    while not connection.scalar(TRY_LOCK, {"key": LOCK_KEY}):
        if time.monotonic() >= deadline:
            raise LockWaitExceeded(
                f"Another migration held the lock for more than {wait:g} s "
                "(MIGRATION_LOCK_WAIT); stopped before changing anything."
            )
        if not waiting:
            log.info("Another migration is running; waiting up to %g s for it.", wait)
            waiting = True
        time.sleep(poll)
    try:
        yield
    finally:
        # A lock connection that died took the lock with it.
        with contextlib.suppress(DBAPIError):
            connection.scalar(UNLOCK, {"key": LOCK_KEY})
