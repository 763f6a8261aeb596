"""BaseTestCase: a fresh app on the test database, with fresh tables per test."""

import os
import unittest

from flask import current_app

from project import create_app, db
from project.api.store import QUERY_PATH
from project.commands import TESTING_SETTINGS
from project.config import TestingConfig
from project.settings import same_database


def test_database_url():
    """Return the URL the tests must use (DATABASE_TEST_URL, or its default)."""
    return TestingConfig.SQLALCHEMY_DATABASE_URI


def assert_test_database():
    """Refuse to go on unless the current app's engine is bound to the test database.

    Checking the config is not enough: Flask-SQLAlchemy builds engines once, in
    `init_app`, so an app reconfigured afterwards keeps talking to its old database.
    """
    expected = test_database_url()
    if not current_app.testing or not same_database(url_of(db.engine), expected):
        raise RuntimeError(
            f"Refusing to run tests against {db.engine.url!r}: "
            "not the test database (DATABASE_TEST_URL)."
        )
    if same_database(expected, os.environ.get("DATABASE_URL")):
        raise RuntimeError("DATABASE_TEST_URL must not be the same as DATABASE_URL.")


def dispose_engines():
    """Close the pooled connections of the current app's engine, the fast path's kept one too."""
    current_app.extensions[QUERY_PATH].release()
    db.engine.dispose()


def url_of(engine):
    return engine.url.render_as_string(hide_password=False)


class BaseTestCase(unittest.TestCase):
    """Each test gets the testing app, an app context, empty tables and a client."""

    def setUp(self):
        self.app = create_app(TESTING_SETTINGS)
        self.app_context = self.app.app_context()
        self.app_context.push()
        # Popped even when the guard below stops the test, so no context is left behind.
        self.addCleanup(self.app_context.pop)
        assert_test_database()
        db.create_all()
        self.client = self.app.test_client()

    def tearDown(self):
        db.session.remove()
        db.drop_all()
        dispose_engines()
