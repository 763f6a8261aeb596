"""The config classes: built by create_app, and loaded onto an app built beforehand.

The course's own test_config builds one app when the module is imported and loads each
config onto it with `app.config.from_object`, inside Flask-Testing cases; the last
classes here do the same.
"""

import os
import unittest

from flask import Config, current_app
from flask_testing import TestCase

from project import create_app
from project.config import (DEFAULT_SQLITE_URL, DEFAULT_TEST_URL, DEFAULT_THREADS,
                            DevelopmentConfig, ProductionConfig, TestingConfig)
from project.tests.base import test_database_url
from project.tests.support import config_in_child

CONFIG_CLASSES = (DevelopmentConfig, TestingConfig, ProductionConfig)
# Built at import, with the config APP_SETTINGS names (`manage.py test`: testing).
prebuilt_app = create_app()


def development_url():
    return os.environ.get("DATABASE_URL") or DEFAULT_SQLITE_URL


def test_url():
    return os.environ.get("DATABASE_TEST_URL") or DEFAULT_TEST_URL


class TestDevelopmentConfig(unittest.TestCase):

    def test_app_is_development(self):
        """Ensure DevelopmentConfig keeps the course's secret and turns the toolbar on."""
        app = create_app("project.config.DevelopmentConfig")
        self.assertEqual(app.config["SECRET_KEY"], "my_precious")
        self.assertTrue(app.config["DEBUG_TB_ENABLED"])
        self.assertFalse(app.config["DEBUG_TB_INTERCEPT_REDIRECTS"])
        self.assertFalse(app.testing)
        self.assertEqual(app.config["SQLALCHEMY_DATABASE_URI"], development_url())


class TestTestingConfig(unittest.TestCase):

    def test_app_is_testing(self):
        """Ensure TestingConfig sets TESTING, no toolbar, and DATABASE_TEST_URL as given."""
        app = create_app("project.config.TestingConfig")
        self.assertEqual(app.config["SECRET_KEY"], "my_precious")
        self.assertTrue(app.config["TESTING"])
        self.assertIs(app.config["PRESERVE_CONTEXT_ON_EXCEPTION"], False)
        self.assertFalse(app.config["DEBUG_TB_ENABLED"])
        self.assertEqual(app.config["SQLALCHEMY_DATABASE_URI"], test_url())


class TestProductionConfig(unittest.TestCase):

    def test_app_is_production(self):
        """Ensure ProductionConfig takes SECRET_KEY and DATABASE_URL, the URL as given."""
        url = "postgres://postgres@127.0.0.1:5432/users_prod"
        config = config_in_child("project.config.ProductionConfig",
                                 SECRET_KEY="a-production-secret", DATABASE_URL=url)
        self.assertEqual(config["SECRET_KEY"], "a-production-secret")
        self.assertFalse(config["DEBUG_TB_ENABLED"])
        self.assertFalse(config["TESTING"])
        self.assertEqual(config["SQLALCHEMY_DATABASE_URI"], url)


class TestEnvironment(unittest.TestCase):

    def test_settings_come_from_the_environment(self):
        """Ensure the variables a process starts with become its app's values."""
        config = config_in_child(
            "project.config.DevelopmentConfig", DATABASE_URL=test_database_url(),
            DATABASE_STATEMENT_TIMEOUT="250", GUNICORN_THREADS="6", DATABASE_FAST_PATH="off",
            CORS_ORIGINS="https://a.example, https://b.example", TRUSTED_PROXY_HOPS="1")
        self.assertEqual(config["SQLALCHEMY_DATABASE_URI"], test_database_url())
        self.assertEqual(config["DATABASE_STATEMENT_TIMEOUT"], 250)
        self.assertEqual(config["DATABASE_POOL_SIZE"], 6)
        self.assertIs(config["DATABASE_FAST_PATH"], False)
        self.assertEqual(config["CORS_ORIGINS"], ["https://a.example", "https://b.example"])
        self.assertEqual(config["TRUSTED_PROXY_HOPS"], 1)

    def test_defaults_without_the_environment(self):
        """Ensure an environment without the service's variables gets its defaults."""
        config = config_in_child("project.config.DevelopmentConfig")
        self.assertEqual(config["SQLALCHEMY_DATABASE_URI"], DEFAULT_SQLITE_URL)
        self.assertEqual(config["DATABASE_STATEMENT_TIMEOUT"], 5000)
        self.assertEqual(config["DATABASE_POOL_SIZE"], DEFAULT_THREADS)
        self.assertIs(config["DATABASE_FAST_PATH"], True)
        self.assertEqual(config["CORS_ORIGINS"], "*")


class TestFromObject(unittest.TestCase):

    def test_values_are_the_same_however_loaded(self):
        """Ensure from_object with a dotted path, the class or an instance gives one config."""
        for config_class in CONFIG_CLASSES:
            loaded = []
            for source in (f"project.config.{config_class.__name__}", config_class,
                           config_class()):
                config = Config(root_path=".")
                config.from_object(source)
                loaded.append(dict(config))
            with self.subTest(config=config_class.__name__):
                self.assertIn("SQLALCHEMY_DATABASE_URI", loaded[0])
                self.assertEqual(loaded[1], loaded[0])
                self.assertEqual(loaded[2], loaded[0])


class LoadedOntoPrebuiltApp(TestCase):
    """A Flask-Testing case whose app is `prebuilt_app` with `settings` loaded onto it."""

    settings = None

    def create_app(self):
        prebuilt_app.config.from_object(self.settings)
        return prebuilt_app

    def assert_current_app_is_prebuilt(self):
        self.assertIs(current_app._get_current_object(), prebuilt_app)


class TestDevelopmentLoaded(LoadedOntoPrebuiltApp):
    settings = "project.config.DevelopmentConfig"

    def test_development_values(self):
        """Ensure DevelopmentConfig loaded by its dotted path gives its own values."""
        self.assert_current_app_is_prebuilt()
        self.assertEqual(self.app.config["SECRET_KEY"], "my_precious")
        self.assertTrue(self.app.config["DEBUG_TB_ENABLED"])
        self.assertEqual(self.app.config["SQLALCHEMY_DATABASE_URI"], development_url())


class TestTestingLoaded(LoadedOntoPrebuiltApp):
    settings = TestingConfig

    def test_testing_values(self):
        """Ensure TestingConfig loaded as a class gives TESTING and DATABASE_TEST_URL."""
        self.assert_current_app_is_prebuilt()
        self.assertTrue(self.app.config["TESTING"])
        self.assertIs(self.app.config["PRESERVE_CONTEXT_ON_EXCEPTION"], False)
        self.assertFalse(self.app.config["DEBUG_TB_ENABLED"])
        self.assertEqual(self.app.config["SQLALCHEMY_DATABASE_URI"], test_url())


class TestProductionLoaded(LoadedOntoPrebuiltApp):
    settings = "project.config.ProductionConfig"

    def test_production_values(self):
        """Ensure ProductionConfig loaded onto a built app keeps the course's secret."""
        # Only create_app refuses a production app without SECRET_KEY.
        self.assert_current_app_is_prebuilt()
        self.assertEqual(self.app.config["SECRET_KEY"],
                         os.environ.get("SECRET_KEY") or "my_precious")
        self.assertFalse(self.app.config["TESTING"])
        self.assertFalse(self.app.config["DEBUG_TB_ENABLED"])
        self.assertIs(self.app.config["DEBUG"], False)


if __name__ == "__main__":
    unittest.main()
