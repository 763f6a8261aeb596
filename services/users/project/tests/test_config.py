"""The course's three config tests: each config class, through a real app."""

import os
import unittest
from unittest import mock

from project import create_app
from project.config import DEFAULT_SQLITE_URL, DEFAULT_TEST_URL, normalise_database_url


class TestDevelopmentConfig(unittest.TestCase):

    def test_app_is_development(self):
        """Ensure DevelopmentConfig keeps the course's secret and turns the toolbar on."""
        app = create_app("project.config.DevelopmentConfig")
        expected_url = os.environ.get("DATABASE_URL") or DEFAULT_SQLITE_URL
        self.assertEqual(app.config["SECRET_KEY"], "my_precious")
        self.assertTrue(app.config["DEBUG_TB_ENABLED"])
        self.assertFalse(app.config["DEBUG_TB_INTERCEPT_REDIRECTS"])
        self.assertFalse(app.testing)
        self.assertEqual(
            app.config["SQLALCHEMY_DATABASE_URI"], normalise_database_url(expected_url)
        )


class TestTestingConfig(unittest.TestCase):

    def test_app_is_testing(self):
        """Ensure TestingConfig sets TESTING, no toolbar, and DATABASE_TEST_URL."""
        app = create_app("project.config.TestingConfig")
        expected_url = os.environ.get("DATABASE_TEST_URL") or DEFAULT_TEST_URL
        self.assertEqual(app.config["SECRET_KEY"], "my_precious")
        self.assertTrue(app.config["TESTING"])
        self.assertFalse(app.config["DEBUG_TB_ENABLED"])
        self.assertEqual(
            app.config["SQLALCHEMY_DATABASE_URI"], normalise_database_url(expected_url)
        )


class TestProductionConfig(unittest.TestCase):

    def test_app_is_production(self):
        """Ensure ProductionConfig takes SECRET_KEY and DATABASE_URL from the environment."""
        environment = {
            "SECRET_KEY": "a-production-secret",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/users_prod",
        }
        with mock.patch.dict(os.environ, environment):
            app = create_app("project.config.ProductionConfig")
        self.assertEqual(app.config["SECRET_KEY"], "a-production-secret")
        self.assertFalse(app.config["DEBUG_TB_ENABLED"])
        self.assertFalse(app.config["TESTING"])
        self.assertEqual(
            app.config["SQLALCHEMY_DATABASE_URI"],
            "postgresql+psycopg2://postgres@127.0.0.1:5432/users_prod",
        )


if __name__ == "__main__":
    unittest.main()
