"""Alembic environment for Flask-Migrate.

On PostgreSQL, migrations run on connections of their own, not the app's pool, and
under their own timeouts: no statement timeout unless MIGRATION_STATEMENT_TIMEOUT sets
one (an index build takes as long as the table needs), and MIGRATION_LOCK_TIMEOUT on
every statement (DDL waiting for a lock queues every request behind it). CREATE INDEX
CONCURRENTLY, whose waits for older transactions block no request, gets the longer
MIGRATION_INDEX_LOCK_TIMEOUT instead (revisions read it from `config.attributes`). One
runner at a time holds the migrations' advisory lock (`project.upgrade_lock`); it first
ends the sessions a runner that died left running, which the migration session's
application_name names. Each revision runs in a transaction of its own, so a revision
that must leave it (CREATE INDEX CONCURRENTLY) commits only what came before it. SQLite
migrates on the app's engine, in batch mode.
"""

import logging
import os
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import create_engine, pool
from sqlalchemy.exc import OperationalError

from project.settings import whole_number
from project.upgrade_lock import APPLICATION_NAME, end_orphaned_runs, upgrade_lock

config = context.config
# Keep the app's own loggers when migrations run inside it (recreate_db, tests).
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db
app_engine = target_db.engine
url = app_engine.url
config.set_main_option(
    "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
)


def whole_number_setting(name, default):
    """Read the whole number in the environment variable `name`, or `default`."""
    return whole_number(name, os.environ.get(name, "").strip() or default)


def session_settings():
    """Return the SET statements every migration session starts with (PostgreSQL)."""
    timeouts = {
        "lock_timeout": whole_number_setting("MIGRATION_LOCK_TIMEOUT", 500),
        "statement_timeout": whole_number_setting("MIGRATION_STATEMENT_TIMEOUT", 0),
        "index_lock_timeout": whole_number_setting("MIGRATION_INDEX_LOCK_TIMEOUT", 60000),
    }
    config.attributes["timeouts"] = timeouts
    return [f"SET {name} = {timeouts[name]}" for name in ("lock_timeout", "statement_timeout")]


def skip_empty_autogenerate(context, revision, directives):
    """Write no revision when `db migrate` finds no change."""
    if getattr(config.cmd_opts, "autogenerate", False):
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives[:] = []
            logger.info("No changes in schema detected.")


def configure(**options):
    args = dict(current_app.extensions["migrate"].configure_args)
    args.setdefault("process_revision_directives", skip_empty_autogenerate)
    # SQLite cannot ALTER constraints: rebuild the table instead.
    args.setdefault("render_as_batch", url.get_dialect().name == "sqlite")
    args.setdefault("transaction_per_migration", True)
    context.configure(target_metadata=target_db.metadata, **args, **options)


def run_migrations_offline():
    """Emit the SQL for a URL without connecting (`db upgrade --sql`)."""
    configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    if url.get_dialect().name == "postgresql":
        for statement in session_settings():
            context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    if url.get_dialect().name != "postgresql":
        with app_engine.connect() as connection:
            run_on(connection)
        return
    settings = [*session_settings(), f"SET application_name = '{APPLICATION_NAME}'"]
    wait = whole_number_setting("MIGRATION_LOCK_WAIT", 300)
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={
        "connect_timeout": whole_number_setting("DATABASE_CONNECT_TIMEOUT", 3),
    })
    try:
        with connect(engine) as lock_connection, upgrade_lock(lock_connection, wait):
            with connect(engine) as connection:
                end_orphaned_runs(connection)
                for statement in settings:
                    connection.exec_driver_sql(statement)
                # Session settings: committed, they last for the whole session.
                connection.commit()
                run_on(connection)
    finally:
        engine.dispose()


def run_on(connection):
    configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def connect(engine):
    """Connect, or stop with one line saying where and why not."""
    try:
        return engine.connect()
    except OperationalError as error:
        raise RuntimeError(cannot_connect(error)) from None


def cannot_connect(error):
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    reason = " ".join(str(error.orig).split())
    if f'database "{url.database}" does not exist' in reason:
        return (f'PostgreSQL at {where} has no database "{url.database}". Create it '
                f"first: createdb -h {url.host or 'localhost'} -p {url.port or 5432} "
                f"-U {url.username or 'postgres'} {url.database}")
    return f"Cannot connect to PostgreSQL at {where}/{url.database}: {reason}"


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
