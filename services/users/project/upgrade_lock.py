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

A runner that dies frees the lock, but not always its statement: killed mid-build, its
idle lock session sees the closed socket and ends at once, while the backend running its
CREATE INDEX CONCURRENTLY builds on until it next writes to the client, holding the table
lock the next runner's DROP INDEX needs. So migration sessions carry APPLICATION_NAME
(the lock's session does not: a runner waiting for the lock is alive), and the runner
that holds the lock ends any other such session on its database first.
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
APPLICATION_NAME = "users-migrate"
# A role may end its own backends; waits up to :wait ms for each to be gone. A session's
# parallel workers carry its name too, and end with it.
END_ORPHANS = text("""
    SELECT pid, pg_terminate_backend(pid, :wait) FROM pg_stat_activity
    WHERE datname = current_database() AND usename = current_user
      AND application_name = :name AND backend_type = 'client backend'
      AND pid <> pg_backend_pid()""")


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


def end_orphaned_runs(connection, wait=5000):
    """End the migration sessions runners that died left on this database; log them.

    Call it holding the lock, so that no live runner owns such a session.
    """
    ended = sorted(pid for pid, _ in connection.execute(
        END_ORPHANS, {"name": APPLICATION_NAME, "wait": wait}))
    if ended:
        log.warning("Ended %d session(s) that a migration which died left running "
                    "(pid %s).", len(ended), ", ".join(map(str, ended)))
    return ended
