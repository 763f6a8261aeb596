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


class BaseConfig:
    """Base configuration."""

    TESTING = False
    SECRET_KEY = "my_precious"
    DEBUG_TB_ENABLED = False
    DEBUG_TB_INTERCEPT_REDIRECTS = False
    # A user is two short strings: anything bigger is not a user.
    MAX_CONTENT_LENGTH = 64 * 1024
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

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

    @property
    def SECRET_KEY(self):
        return required_env("SECRET_KEY", "ProductionConfig")

    @property
    def SQLALCHEMY_DATABASE_URI(self):
        return normalise_database_url(required_env("DATABASE_URL", "ProductionConfig"))
