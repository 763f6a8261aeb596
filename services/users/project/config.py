"""Configuration classes, chosen by the dotted path in APP_SETTINGS.

Values come from the environment, read as the course reads them. `create_app` checks
them and works out the engine's options from them (`project.settings`).
"""

import os

USERS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SQLITE_URL = "sqlite:///" + os.path.join(USERS_DIR, "instance", "users.db")
DEFAULT_TEST_URL = "postgresql://postgres@127.0.0.1:5432/users_test"
# gunicorn.conf.py's threads per worker when GUNICORN_THREADS is unset.
DEFAULT_THREADS = 4


class BaseConfig:
    """Base configuration."""

    TESTING = False
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    SECRET_KEY = "my_precious"
    DEBUG_TB_ENABLED = False
    DEBUG_TB_INTERCEPT_REDIRECTS = False
    # FLASK_DEBUG may turn on Flask's debug mode (and `flask run`'s debugger).
    DEBUGGER_ALLOWED = True
    # A user is two short strings: anything bigger is not a user.
    MAX_CONTENT_LENGTH = 64 * 1024
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", DEFAULT_SQLITE_URL)
    # "on": the API's statements run on the driver's cursor (project.fast_path) where the
    # database is PostgreSQL; "off": on Flask-SQLAlchemy's session (project.session_path).
    DATABASE_FAST_PATH = os.environ.get("DATABASE_FAST_PATH", "on")
    # Milliseconds each statement of a request may run; 0 lifts the limit.
    DATABASE_STATEMENT_TIMEOUT = os.environ.get("DATABASE_STATEMENT_TIMEOUT", "5000")
    # Seconds to wait for PostgreSQL to accept a connection.
    DATABASE_CONNECT_TIMEOUT = os.environ.get("DATABASE_CONNECT_TIMEOUT", "3")
    # Threads per gunicorn worker: gunicorn.conf.py reads the same variable.
    GUNICORN_THREADS = os.environ.get("GUNICORN_THREADS", str(DEFAULT_THREADS))
    # A worker's pool; unset, one connection for each of its threads.
    DATABASE_POOL_SIZE = os.environ.get("DATABASE_POOL_SIZE")
    DATABASE_MAX_OVERFLOW = os.environ.get("DATABASE_MAX_OVERFLOW", "0")
    # Seconds a request waits for a pooled connection before its 503.
    DATABASE_POOL_TIMEOUT = os.environ.get("DATABASE_POOL_TIMEOUT", "3")
    # Origins whose pages may call the API: "*" (as in the course), or a comma-separated list.
    CORS_ORIGINS = os.environ.get("CORS_ORIGINS", "*")
    # A page from another origin may read where the next page of GET /users is, and
    # the request ID to quote.
    CORS_EXPOSE_HEADERS = ["Link", "X-Request-ID"]
    # How many proxies (nginx) stand in front; their X-Forwarded-* are believed.
    TRUSTED_PROXY_HOPS = os.environ.get("TRUSTED_PROXY_HOPS", "0")
    # Settings `create_app` refuses to start without, by the variable that sets them.
    REQUIRED_SETTINGS = {}
    # "on": Prometheus metrics (project.metrics), which gunicorn's master serves on
    # METRICS_PORT (gunicorn.conf.py); "off": none recorded.
    METRICS = os.environ.get("METRICS", "on")
    # "text": readable lines; "json": one JSON object per line (project.logs).
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    # The least level written: the access lines are INFO.
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")


class DevelopmentConfig(BaseConfig):
    """Development configuration."""

    DEBUG_TB_ENABLED = True


class TestingConfig(BaseConfig):
    """Testing configuration."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_TEST_URL", DEFAULT_TEST_URL)
    # Flask 2.3 dropped this key; the course's tests still read it (False: a failing
    # request's context is not kept around).
    PRESERVE_CONTEXT_ON_EXCEPTION = False
    # No access line for each of the suite's requests.
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "WARNING")


class ProductionConfig(BaseConfig):
    """Production configuration."""

    # Set here, not read from the environment: production never debugs.
    DEBUG = False
    DEBUGGER_ALLOWED = False
    PROPAGATE_EXCEPTIONS = False
    # `create_app` refuses a production app without SECRET_KEY; the course's value shows
    # only where this class is loaded onto an app built with another config (as the
    # course's test_config does).
    SECRET_KEY = os.environ.get("SECRET_KEY") or BaseConfig.SECRET_KEY
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    # Only the origins CORS_ORIGINS lists; without it, same-origin pages only.
    CORS_ORIGINS = os.environ.get("CORS_ORIGINS", "")
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "json")
    REQUIRED_SETTINGS = {"SECRET_KEY": "SECRET_KEY", "DATABASE_URL": "SQLALCHEMY_DATABASE_URI"}
