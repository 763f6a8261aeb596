"""The users service: `create_app` builds and wires a Flask app."""

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import import_string

from project.api.health import health_blueprint
from project.api.models import User
from project.api.users import users_blueprint
from project.api.store import QUERY_PATH
from project.commands import register_commands
from project.database import register_database
from project.errors import register_error_handlers
from project.extensions import cors, db, migrate, toolbar
from project.fast_path import FastPath
from project.logs import register_logging
from project.metrics import NO_POOL_WATCH, PoolWatch
from project.observability import register_observability
from project.security import register_security
from project.session_path import SessionPath
from project.sessions import CookieSessionInterface
from project.settings import SettingError, load_settings

__all__ = ["create_app", "db"]

MIGRATIONS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations"
)


def create_app(settings=None):
    """Build the app with `settings` (a dotted path or a config class).

    Without `settings`, APP_SETTINGS names the config, development by default.
    """
    app = Flask(__name__)
    app.session_interface = CookieSessionInterface()
    load_config(app, settings)
    register_logging(app)
    register_extensions(app)
    register_query_path(app)
    register_security(app)
    register_observability(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_shell_context(app)
    register_proxy(app)
    return app


def load_config(app, settings):
    """Load and check the config before any extension reads it."""
    settings = settings or os.environ.get(
        "APP_SETTINGS", "project.config.DevelopmentConfig"
    )
    try:
        app.config.from_object(import_string(settings) if isinstance(settings, str)
                               else settings)
    except ImportError as error:
        raise SettingError(f"APP_SETTINGS names no config class we have: {error}") from None
    load_settings(app.config)


def register_proxy(app):
    """Believe X-Forwarded-* only from the configured number of proxies in front.

    Outermost, so that everything inside (the security headers' HTTPS check) sees the
    client's scheme and host.
    """
    hops = app.config["TRUSTED_PROXY_HOPS"]
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops,
                                x_port=hops, x_prefix=hops)


def register_extensions(app):
    """Bind the extensions to the app."""
    db.init_app(app)
    with app.app_context():
        register_database(db.engine, app.config["DATABASE_STATEMENT_TIMEOUT"])
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    # No origin to allow (production's default) needs no CORS work on every request.
    if app.config["CORS_ORIGINS"]:
        cors.init_app(app)
    toolbar.init_app(app)


def register_query_path(app):
    """Run the store's statements on the fast path (psycopg2) or on the session."""
    with app.app_context():
        engine = db.engine
    pool_watch = (PoolWatch(engine, pool_capacity(app.config)) if app.config["METRICS"]
                  else NO_POOL_WATCH)
    if app.config["DATABASE_FAST_PATH"] and engine.dialect.driver == "psycopg2":
        refuse_pool_smaller_than_threads(app.config)
        path = FastPath(engine, app.config["DATABASE_STATEMENT_TIMEOUT"], pool_watch)
    else:
        path = SessionPath(pool_watch)
    app.extensions[QUERY_PATH] = path


def pool_capacity(config):
    """The most connections a worker's pool opens."""
    return config["DATABASE_POOL_SIZE"] + config["DATABASE_MAX_OVERFLOW"]


def refuse_pool_smaller_than_threads(config):
    """Stop where a thread could wait for ever: on the fast path each keeps a connection."""
    connections = pool_capacity(config)
    if connections < config["GUNICORN_THREADS"]:
        raise SettingError(
            f"DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW ({connections}) must be at least "
            f"GUNICORN_THREADS ({config['GUNICORN_THREADS']}): on the fast path each thread "
            "keeps a connection. Or set DATABASE_FAST_PATH=off."
        )


def register_blueprints(app):
    """Mount the users API and page, and the readiness and description routes."""
    app.register_blueprint(users_blueprint)
    app.register_blueprint(health_blueprint)


def register_shell_context(app):
    """Offer `app`, `db` and `User` in `flask shell`."""
    app.shell_context_processor(lambda: {"app": app, "db": db, "User": User})
