"""The users service: `create_app` builds and wires a Flask app."""

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.utils import import_string

from project.api.health import health_blueprint
from project.api.models import User
from project.api.users import users_blueprint
from project.commands import register_commands
from project.config import SettingError
from project.connections import register_connections
from project.errors import register_error_handlers
from project.extensions import cors, db, migrate, toolbar
from project.security import register_security
from project.sessions import CookieSessionInterface

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
    register_extensions(app)
    register_security(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_shell_context(app)
    register_proxy(app)
    return app


def load_config(app, settings):
    """Load the config before any extension reads it."""
    settings = settings or os.environ.get(
        "APP_SETTINGS", "project.config.DevelopmentConfig"
    )
    config_class = import_string(settings) if isinstance(settings, str) else settings
    refuse_missing_environment(config_class)
    app.config.from_object(config_class)


def refuse_missing_environment(config_class):
    """Stop a config from starting without the variables it names (production's secrets)."""
    for name in config_class.required_environment:
        if not os.environ.get(name, "").strip():
            raise SettingError(
                f"{name} must be set in the environment for {config_class.__name__}."
            )


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
        register_connections(app, db.engine)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    # No origin to allow (production's default) needs no CORS work on every request.
    if app.config["CORS_ORIGINS"]:
        cors.init_app(app)
    toolbar.init_app(app)


def register_blueprints(app):
    """Mount the users API and page, and the readiness and description routes."""
    app.register_blueprint(users_blueprint)
    app.register_blueprint(health_blueprint)


def register_shell_context(app):
    """Offer `app`, `db` and `User` in `flask shell`."""
    app.shell_context_processor(lambda: {"app": app, "db": db, "User": User})
