"""Configuration classes, chosen by the dotted path in APP_SETTINGS.

Values that come from the environment are `setting`s: worked out each time they are
read, so each app sees the environment of its day, and read the same way from the class
as from an instance, so `app.config.from_object` gets real values whether it is given a
dotted path, the class or an instance (the course's tests load them all three ways).
"""

import os

from sqlalchemy.dialects import registry
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

USERS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SQLITE_URL = "sqlite:///" + os.path.join(USERS_DIR, "instance", "users.db")
DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/users_test"
# gunicorn.conf.py's threads per worker when GUNICORN_THREADS is unset.
DEFAULT_THREADS = 4

# The URLs stay as given (the course's tests compare them with DATABASE_URL): instead,
# `postgres://` (which SQLAlchemy no longer knows) and `postgresql://` (psycopg 3 from
# SQLAlchemy 2.1) both mean the psycopg2 driver we ship.
for scheme in ("postgres", "postgresql"):
    registry.register(scheme, "sqlalchemy.dialects.postgresql.psycopg2", "PGDialect_psycopg2")


class setting:
    """A config value worked out when read, on the config class or on an instance.

    Flask's `from_object` reads a class's attributes with `getattr`: a `property` would
    hand it the property itself, this hands it the value.
    """

    def __init__(self, compute):
        self.compute = compute
        self.__doc__ = compute.__doc__

    def __get__(self, instance, owner):
        return self.compute(owner)


def backend_name(url):
    """Name the database a URL is for: "postgresql" for postgres:// URLs too."""
    return make_url(url).get_dialect().name


def same_database(first, second):
    """Say whether two URLs name one database, whatever their scheme, driver or user."""
    if not (first and second):
        return False
    return database_identity(first) == database_identity(second)


def database_identity(url):
    parsed = make_url(url)
    backend = parsed.get_dialect().name
    port = parsed.port or (5432 if backend == "postgresql" else None)
    return backend, parsed.host, port, parsed.database


def cors_origins(default):
    """Read CORS_ORIGINS: "*", or origins separated by commas; unset gives `default`."""
    value = os.environ.get("CORS_ORIGINS")
    if value is None:
        return default
    if value.strip() == "*":
        return "*"
    return [origin.strip() for origin in value.split(",") if origin.strip()]


class SettingError(RuntimeError):
    """A setting from the environment is missing or malformed; its message says which."""


def whole_number(name, default):
    """Read a whole number from the environment variable `name`, or stop saying why."""
    value = os.environ.get(name, "").strip() or str(default)
    if not value.isdigit():
        raise SettingError(f"{name} must be a whole number, not {value!r}.")
    return int(value)


def database_url(name, default=None):
    """Read the database URL in `name` as given, or stop saying it is not one we can use."""
    value = os.environ.get(name) or default
    if value is not None and backend_of(value) not in ("postgresql", "sqlite"):
        raise SettingError(
            f"{name} is not a database URL this service can use (postgresql://user:"
            "password@host:port/name, or sqlite:///path)."
        )
    return value


def backend_of(url):
    """Name the database `url` is for, or None if it is no database URL at all."""
    try:
        return backend_name(url)
    except (ArgumentError, NoSuchModuleError, ValueError):
        return None


def postgres_connect_args():
    """Bound how long a request waits for PostgreSQL to accept a connection.

    Nothing else goes with the connection: PgBouncer's transaction pooling refuses
    startup parameters such as `options`, and each transaction may land on another
    server connection. The statement timeout travels with each transaction instead
    (`project.connections`).
    """
    return {
        "connect_timeout": whole_number("DATABASE_CONNECT_TIMEOUT", 3),
        # Notice a server that vanished without closing the connection.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


def pool_options():
    """Size a worker's one pool: a connection for each of its threads, nothing more.

    A worker then opens at most DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW connections,
    and a request that finds them all busy waits DATABASE_POOL_TIMEOUT seconds for one
    before its 503.
    """
    threads = BaseConfig.GUNICORN_THREADS
    return {
        "pool_size": max(1, whole_number("DATABASE_POOL_SIZE", threads)),
        "max_overflow": whole_number("DATABASE_MAX_OVERFLOW", 0),
        "pool_timeout": whole_number("DATABASE_POOL_TIMEOUT", 3),
    }


class BaseConfig:
    """Base configuration."""

    TESTING = False
    # FLASK_DEBUG may turn on Flask's debug mode (and `flask run`'s debugger).
    DEBUGGER_ALLOWED = True
    SECRET_KEY = "my_precious"
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    DEBUG_TB_ENABLED = False
    DEBUG_TB_INTERCEPT_REDIRECTS = False
    # A user is two short strings: anything bigger is not a user.
    MAX_CONTENT_LENGTH = 64 * 1024
    # What `create_app` refuses to start without (see `project.load_config`).
    required_environment = ()

    @setting
    def SQLALCHEMY_DATABASE_URI(config):
        return database_url("DATABASE_URL", DEFAULT_SQLITE_URL)

    @setting
    def SQLALCHEMY_ENGINE_OPTIONS(config):
        """Keep parameters out of errors; on PostgreSQL, bound waits and size the pool.

        Parameters stay out of error messages, and so out of logs: they hold emails.
        No `pool_pre_ping`: its `SELECT 1` is a round trip per request, while
        `project.connections` drops the connections PostgreSQL closed without one.
        """
        options = {"hide_parameters": True}
        url = config.SQLALCHEMY_DATABASE_URI
        # SQLite's pools (a file, or memory in this process) take no size.
        if url and backend_name(url) == "postgresql":
            # Autocommit: the API's one-statement requests need no transaction, and the
            # ORM session asks for one (project.connections), which SQLAlchemy ends before
            # the connection goes back: so nothing is left to roll back on return.
            # LIFO: a request gets the connection used last, whose server process is warm
            # (make bench: a few hundredths of the Flask floor on reads and writes).
            options.update(connect_args=postgres_connect_args(), isolation_level="AUTOCOMMIT",
                           pool_reset_on_return=None, pool_use_lifo=True, **pool_options())
        return options

    @setting
    def GUNICORN_THREADS(config):
        """Threads per gunicorn worker (gunicorn.conf.py reads the same variable)."""
        return whole_number("GUNICORN_THREADS", DEFAULT_THREADS)

    @setting
    def DATABASE_STATEMENT_TIMEOUT(config):
        """Milliseconds each statement of a request may run; 0 lifts the limit."""
        return whole_number("DATABASE_STATEMENT_TIMEOUT", 5000)

    @setting
    def CORS_ORIGINS(config):
        """Origins whose pages may call the API: any, as in the course, unless set."""
        return cors_origins("*")

    @setting
    def TRUSTED_PROXY_HOPS(config):
        """How many proxies (nginx) stand in front; their X-Forwarded-* are believed."""
        return whole_number("TRUSTED_PROXY_HOPS", 0)


class DevelopmentConfig(BaseConfig):
    """Development configuration."""

    DEBUG_TB_ENABLED = True


class TestingConfig(BaseConfig):
    """Testing configuration."""

    TESTING = True
    # Flask 2.3 dropped this key; the course's tests still read it (False: a failing
    # request's context is not kept around).
    PRESERVE_CONTEXT_ON_EXCEPTION = False

    @setting
    def SQLALCHEMY_DATABASE_URI(config):
        return database_url("DATABASE_TEST_URL", DEFAULT_TEST_URL)


class ProductionConfig(BaseConfig):
    """Production configuration."""

    # Set here, not read from the environment: production never debugs.
    DEBUG = False
    DEBUGGER_ALLOWED = False
    DEBUG_TB_ENABLED = False
    PROPAGATE_EXCEPTIONS = False
    required_environment = ("SECRET_KEY", "DATABASE_URL")

    @setting
    def CORS_ORIGINS(config):
        """Only the origins CORS_ORIGINS lists; without it, same-origin pages only."""
        return cors_origins([])

    @setting
    def SECRET_KEY(config):
        """SECRET_KEY from the environment.

        `create_app` refuses a production app without it, so the course's value
        underneath shows only where ProductionConfig is loaded onto an app built with
        another config (as the course's test_config does).
        """
        return os.environ.get("SECRET_KEY", "").strip() or BaseConfig.SECRET_KEY

    @setting
    def SQLALCHEMY_DATABASE_URI(config):
        return database_url("DATABASE_URL")
