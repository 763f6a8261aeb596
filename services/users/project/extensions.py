"""The Flask extensions, created unbound; `create_app` binds them to an app."""

import flask_sqlalchemy
from flask import current_app
from flask_cors import CORS
from flask_debugtoolbar import DebugToolbarExtension
from flask_migrate import Migrate
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase

# PostgreSQL's own default names, so that migrations can drop what they created
# and `\d users` shows `users_email_key` / `users_username_key` as in the course.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_name)s",
    "uq": "%(table_name)s_%(column_0_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}


# Where `SQLAlchemy.init_app` notes the database an app's engine was built for.
BOUND_URI = "users.bound_database_uri"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SQLAlchemy(flask_sqlalchemy.SQLAlchemy):
    """Flask-SQLAlchemy, refusing an engine that the app's config has moved away from.

    Flask-SQLAlchemy 3 builds an app's engine once, in `init_app`. A config loaded onto
    the app afterwards (the course's tests load TestingConfig onto an app built for
    development) would leave the engine on the old database, and `drop_all` would drop
    the development tables; here it stops with an error instead.
    """

    def init_app(self, app):
        super().init_app(app)
        app.extensions[BOUND_URI] = app.config["SQLALCHEMY_DATABASE_URI"]

    @property
    def engines(self):
        engines = super().engines
        refuse_stale_engine(current_app)
        return engines


def refuse_stale_engine(app):
    """Stop if `app`'s config names another database than its engine was built for."""
    bound = app.extensions[BOUND_URI]
    if app.config["SQLALCHEMY_DATABASE_URI"] != bound:
        raise RuntimeError(
            f"This app's engine is bound to {hidden(bound)}, but its config now names "
            f"{hidden(app.config['SQLALCHEMY_DATABASE_URI'])}: build the app with that "
            "config instead (create_app(settings), as `python manage.py test` does)."
        )


def hidden(url):
    return make_url(url).render_as_string(hide_password=True) if url else repr(url)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
toolbar = DebugToolbarExtension()
cors = CORS()
