"""Configuration classes, chosen by the dotted path in APP_SETTINGS.

Values that come from the environment are properties, read when an app is built
(not when this module is imported), so each app sees the environment of its day.
"""

import os

from sqlalchemy.engine import make_url

USERS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SQLITE_URL = "sqlite:///" + os.path.join(USERS_DIR, "instance", "users.db")
DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/users_test"


def normalise_database_url(url):
    """Name the psycopg2 driver for PostgreSQL URLs, leave others as they are.

    SQLAlchemy refuses `postgres://` and, from 2.1, reads a bare `postgresql://`
    as psycopg 3, which we do not ship.
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def required_env(name, config_name):
    """Return an environment variable, or stop the app from starting without it."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise RuntimeError(f"{name} must be set in the environment for {config_name}.")
    return value


def cors_origins(default):
    """Read CORS_ORIGINS: "*", or origins separated by commas; unset gives `default`."""
    value = os.environ.get("CORS_ORIGINS")
    if value is None:
        return default
    if value.strip() == "*":
        return "*"
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def postgres_connect_args():
    """Bound how long a request waits for PostgreSQL: to connect, and per statement.

    With the database away a request then fails fast (503) instead of holding a worker.
    """
    statement_ms = int(os.environ.get("DATABASE_STATEMENT_TIMEOUT", "5000"))
    return {
        "connect_timeout": int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "3")),
        "options": f"-c statement_timeout={statement_ms}",
        # Notice a server that vanished without closing the connection.
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
    }


class BaseConfig:
    """Base configuration."""

    TESTING = False
    # FLASK_DEBUG may turn on Flask's debug mode (and `flask run`'s debugger).
    DEBUGGER_ALLOWED = True
    SECRET_KEY = "my_precious"
    DEBUG_TB_ENABLED = False
    DEBUG_TB_INTERCEPT_REDIRECTS = False
    # A user is two short strings: anything bigger is not a user.
    MAX_CONTENT_LENGTH = 64 * 1024

    @property
    def SQLALCHEMY_ENGINE_OPTIONS(self):
        """Keep parameters out of errors; on PostgreSQL, bound waits and size the pool.

        Parameters stay out of error messages, and so out of logs: they hold emails.
        No `pool_pre_ping`: its `SELECT 1` is a round trip per request, while
        `project.connections` drops the connections PostgreSQL closed without one.
        """
        options = {"hide_parameters": True}
        if make_url(self.SQLALCHEMY_DATABASE_URI).get_backend_name() == "postgresql":
            options["connect_args"] = postgres_connect_args()
            # Room for every gunicorn thread of a worker (gunicorn.conf.py), so that busy
            # threads reuse connections instead of opening new ones. (SQLite's in-memory
            # pool takes no size.)
            options["pool_size"] = 10
        return options

    @property
    def CORS_ORIGINS(self):
        """Origins whose pages may call the API: any, as in the course, unless set."""
        return cors_origins("*")

    @property
    def TRUSTED_PROXY_HOPS(self):
        """How many proxies (nginx) stand in front; their X-Forwarded-* are believed."""
        return int(os.environ.get("TRUSTED_PROXY_HOPS", "0"))

    @property
    def SQLALCHEMY_DATABASE_URI(self):
        return normalise_database_url(
            os.environ.get("DATABASE_URL") or DEFAULT_SQLITE_URL
        )


class DevelopmentConfig(BaseConfig):
    """Development configuration."""

    DEBUG_TB_ENABLED = True


class TestingConfig(BaseConfig):
    """Testing configuration."""

    TESTING = True

    @property
    def SQLALCHEMY_DATABASE_URI(self):
        return normalise_database_url(
            os.environ.get("DATABASE_TEST_URL") or DEFAULT_TEST_URL
        )


class ProductionConfig(BaseConfig):
    """Production configuration."""

    # Set here, not read from the environment: production never debugs.
    DEBUG = False
    DEBUGGER_ALLOWED = False
    DEBUG_TB_ENABLED = False
    PROPAGATE_EXCEPTIONS = False

    @property
    def CORS_ORIGINS(self):
        """Only the origins CORS_ORIGINS lists; without it, same-origin pages only."""
        return cors_origins([])

    @property
    def SECRET_KEY(self):
        return required_env("SECRET_KEY", "ProductionConfig")

    @property
    def SQLALCHEMY_DATABASE_URI(self):
        return normalise_database_url(required_env("DATABASE_URL", "ProductionConfig"))
