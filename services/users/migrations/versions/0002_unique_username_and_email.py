"""Make username and email unique.

Stops, changing nothing, when existing rows already share a username or an email:
those must be resolved first.

On PostgreSQL the table stays live throughout: each unique index is built with
CREATE INDEX CONCURRENTLY (reads and writes go on; it waits for older transactions up
to env.py's index lock timeout), then one short ALTER TABLE turns both into the
lesson's UNIQUE constraints (`USING INDEX`), retried while other sessions hold the
table (env.py's short lock_timeout). An index an interrupted build left INVALID is
dropped and built again. SQLite rebuilds the table in batch mode.

Revision ID: 0002_unique_username_email
Revises: 0001_create_users
Create Date: 2026-11-24 09:05:00
"""
import time

import sqlalchemy as sa
from alembic import context, op

revision = "0002_unique_username_email"
down_revision = "0001_create_users"
branch_labels = None
depends_on = None

UNIQUE_COLUMNS = ("username", "email")
# How often the ALTER TABLE is tried while other sessions hold the table, and how long
# to wait between tries (doubling, up to the last).
ALTER_ATTEMPTS = 20
ALTER_BACKOFF = (0.1, 2.0)
LOCK_NOT_AVAILABLE = "55P03"


def constraint_name(column):
    return f"users_{column}_key"


def duplicates(column):
    """Return `(value, count)` for each value of `column` that rows share."""
    users = sa.table("users", sa.column(column))
    value = users.c[column]
    query = (
        sa.select(value, sa.func.count())
        .group_by(value)
        .having(sa.func.count() > 1)
        .order_by(value)
    )
    return op.get_bind().execute(query).all()


def refuse_duplicates():
    found = {column: duplicates(column) for column in UNIQUE_COLUMNS}
    problems = [
        f"{column} {value!r} ({count} rows)"
        for column, rows in found.items()
        for value, count in rows
    ]
    if problems:
        # Flask-Migrate prints a RuntimeError as "Error: ..." and exits 1.
        raise RuntimeError(
            "Cannot make username and email unique; resolve these duplicates first: "
            + "; ".join(problems)
        )


def upgrade():
    if op.get_context().dialect.name == "postgresql":
        upgrade_live()
        return
    refuse_duplicates()
    with op.batch_alter_table("users") as batch_op:
        for column in UNIQUE_COLUMNS:
            batch_op.create_unique_constraint(batch_op.f(constraint_name(column)), [column])


def upgrade_live():
    """Build the unique indexes without blocking the table, then make them constraints."""
    offline = context.is_offline_mode()
    # Offline there are no rows to read: CREATE UNIQUE INDEX itself refuses duplicates.
    if not offline:
        refuse_duplicates()
    timeouts = context.config.attributes["timeouts"]
    with op.get_context().autocommit_block():
        op.execute(f"SET lock_timeout = {timeouts['index_lock_timeout']}")
        for column in UNIQUE_COLUMNS:
            name = constraint_name(column)
            if offline:
                # No constraint exists before this revision: any index of this name is
                # what an earlier, failed run of this SQL left, so the SQL runs again.
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            else:
                drop_if_invalid(name)
            build_unique_index(name, column)
        op.execute(f"SET lock_timeout = {timeouts['lock_timeout']}")
    missing = [column for column in UNIQUE_COLUMNS
               if offline or not constraint_exists(constraint_name(column))]
    if missing:
        attach_constraints(missing, retry=not offline)


def build_unique_index(name, column):
    """CREATE UNIQUE INDEX CONCURRENTLY, or stop with one line saying why it could not."""
    try:
        op.create_index(op.f(name), "users", [column], unique=True,
                        postgresql_concurrently=True, if_not_exists=True)
    except sa.exc.DBAPIError as error:
        reason = " ".join(str(error.orig).split())
        raise RuntimeError(
            f"Could not build the unique index on users.{column}: {reason}. Nothing is "
            "constrained yet; resolve it and run `db upgrade` again (the unfinished "
            "index is dropped and built again)."
        ) from None


def drop_if_invalid(name):
    """Drop an index an earlier, interrupted CREATE INDEX CONCURRENTLY left INVALID."""
    valid = op.get_bind().scalar(
        sa.text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)"),
        {"name": name},
    )
    if valid is False:
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


def constraint_exists(name):
    found = op.get_bind().scalar(
        sa.text("SELECT 1 FROM pg_constraint WHERE conname = :name "
                "AND conrelid = to_regclass('users')"),
        {"name": name},
    )
    return found is not None


def attach_constraints(columns, retry):
    """Turn the indexes into UNIQUE constraints, in one ALTER TABLE (a moment's lock)."""
    statement = "ALTER TABLE users " + ", ".join(
        f"ADD CONSTRAINT {constraint_name(c)} UNIQUE USING INDEX {constraint_name(c)}"
        for c in columns
    )
    if not retry:
        op.execute(statement)
        return
    bind = op.get_bind()
    pause, longest = ALTER_BACKOFF
    for attempt in range(1, ALTER_ATTEMPTS + 1):
        try:
            with bind.begin_nested():
                bind.exec_driver_sql(statement)
            return
        except sa.exc.OperationalError as error:
            if getattr(error.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
        time.sleep(pause)
        pause = min(pause * 2, longest)
    raise RuntimeError(
        f"Could not lock the users table for its unique constraints in {ALTER_ATTEMPTS} "
        "tries (MIGRATION_LOCK_TIMEOUT each); the indexes are built: run `db upgrade` "
        "again when the long transactions on users have ended."
    )


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        for column in reversed(UNIQUE_COLUMNS):
            batch_op.drop_constraint(batch_op.f(constraint_name(column)), type_="unique")
