"""Check the config's settings, and work out the values built from them.

The config classes hold what the environment says, as text. `load_settings` turns it
into the values the app runs with (numbers, a switch, a list of origins, the engine's
options), or stops with a `SettingError` whose one line names the variable to fix.
"""

from sqlalchemy.dialects import registry
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

# The URLs stay as given (the course's tests compare them with DATABASE_URL): instead,
# `postgres://` (which SQLAlchemy no longer knows) and `postgresql://` (psycopg 3 from
# SQLAlchemy 2.1) both mean the psycopg2 driver we ship.
for scheme in ("postgres", "postgresql"):
    registry.register(scheme, "sqlalchemy.dialects.postgresql.psycopg2", "PGDialect_psycopg2")

# The settings that are whole numbers; each is named after its environment variable.
WHOLE_NUMBERS = ("DATABASE_STATEMENT_TIMEOUT", "DATABASE_CONNECT_TIMEOUT", "GUNICORN_THREADS",
                 "DATABASE_MAX_OVERFLOW", "DATABASE_POOL_TIMEOUT", "TRUSTED_PROXY_HOPS")
SWITCH_VALUES = {"on": True, "true": True, "1": True, "yes": True,
                 "off": False, "false": False, "0": False, "no": False}
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The secret the course's code shows to everyone: never a production secret.
COURSE_SECRET = "my_precious"
# How long data sent to PostgreSQL may go unacknowledged before the connection is given
# up (ms): the bound for a half-open connection, which no statement timeout reaches.
TCP_USER_TIMEOUT_MS = 5000


class SettingError(RuntimeError):
    """A setting is missing or malformed; its message says which variable to fix."""


def load_settings(config):
    """Check `config` (a Flask config) and turn its settings into values, in place."""
    for name, variable in config["REQUIRED_SETTINGS"].items():
        if not config.get(variable) or config[variable] == COURSE_SECRET:
            raise SettingError(f"{name} must be set in the environment for this configuration.")
    database_url("DATABASE_URL", config["SQLALCHEMY_DATABASE_URI"])
    for name in WHOLE_NUMBERS:
        config[name] = whole_number(name, config[name])
    pool_size = config["DATABASE_POOL_SIZE"]
    # Unset: a connection for each of the worker's threads.
    config["DATABASE_POOL_SIZE"] = max(1, whole_number(
        "DATABASE_POOL_SIZE", config["GUNICORN_THREADS"] if pool_size is None else pool_size))
    config["DATABASE_FAST_PATH"] = switch("DATABASE_FAST_PATH", config["DATABASE_FAST_PATH"])
    config["CORS_ORIGINS"] = cors_origins(config["CORS_ORIGINS"])
    config["METRICS"] = switch("METRICS", config["METRICS"])
    config["LOG_FORMAT"] = one_of("LOG_FORMAT", config["LOG_FORMAT"], LOG_FORMATS)
    config["LOG_LEVEL"] = one_of("LOG_LEVEL", config["LOG_LEVEL"], LOG_LEVELS, upper=True)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {**engine_options(config),
                                           **config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}


def whole_number(name, value):
    """Read `value` (text, or a number already) as a whole number, or stop naming `name`."""
    text = str(value).strip()
    if not text.isdigit():
        raise SettingError(f"{name} must be a whole number, not {value!r}.")
    return int(text)


def switch(name, value):
    """Read `value` as on or off, or stop naming `name`."""
    if isinstance(value, bool):
        return value
    found = SWITCH_VALUES.get(str(value).strip().lower())
    if found is None:
        raise SettingError(f"{name} must be on or off, not {value!r}.")
    return found


def one_of(name, value, choices, upper=False):
    """Read `value` as one of `choices` (any case), or stop naming `name`."""
    text = str(value).strip()
    text = text.upper() if upper else text.lower()
    if text not in choices:
        raise SettingError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
    return text


def cors_origins(value):
    """Read CORS_ORIGINS: "*", or origins separated by commas (a list already is kept)."""
    if not isinstance(value, str) or value.strip() == "*":
        return value if isinstance(value, list) else "*"
    return [origin.strip() for origin in value.split(",") if origin.strip()]


def database_url(name, url):
    """Stop unless `url` is a database URL this service can use."""
    if backend_of(url) not in ("postgresql", "sqlite"):
        raise SettingError(
            f"{name} is not a database URL this service can use (postgresql://user:"
            "password@host:port/name, or sqlite:///path)."
        )
    return url


def backend_of(url):
    """Name the database `url` is for ("postgresql" for postgres:// too), or None."""
    try:
        return make_url(url).get_dialect().name
    except (ArgumentError, NoSuchModuleError, ValueError, TypeError):
        return None


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


def engine_options(config):
    """Return SQLALCHEMY_ENGINE_OPTIONS: parameters kept out of errors; PostgreSQL's pool.

    Parameters stay out of error messages, and so out of logs: they hold emails. On
    PostgreSQL a worker opens at most DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW
    connections, and a request that finds them all busy waits DATABASE_POOL_TIMEOUT
    seconds before its 503. Nothing but the connect timeout and TCP settings go with a
    connection: PgBouncer's transaction pooling refuses startup parameters such as
    `options`, so the statement timeout travels with each transaction
    (`project.database`).
    """
    options = {"hide_parameters": True}
    if backend_of(config["SQLALCHEMY_DATABASE_URI"]) != "postgresql":
        return options  # SQLite's pools (a file, or memory in this process) take no size.
    return {
        **options,
        "pool_size": config["DATABASE_POOL_SIZE"],
        "max_overflow": config["DATABASE_MAX_OVERFLOW"],
        "pool_timeout": config["DATABASE_POOL_TIMEOUT"],
        # A request gets the connection used last, whose server process is warm.
        "pool_use_lifo": True,
        "connect_args": {
            "connect_timeout": config["DATABASE_CONNECT_TIMEOUT"],
            # Notice a server that vanished without closing the connection.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            # Packets lost on the way: a slow statement is acknowledged at once, so this
            # never cuts one.
            "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
        },
    }
