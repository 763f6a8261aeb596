"""Security headers, CORS origins, and what production never shows or logs."""

import json
import logging
import os
import unittest
from unittest import mock

from sqlalchemy import text

from project import db
from project.config import DevelopmentConfig, ProductionConfig
from project.tests.base import BaseTestCase, dispose_engines, test_database_url
from project.tests.support import app_with

SECRET_EMAIL = "secret.person@mherman.org"
SERVER_ERROR = {"status": "error", "message": "Something went wrong. Please try again later."}
DEBUG_ENVIRONMENT = {"FLASK_DEBUG": "1", "FLASK_ENV": "development"}


def production_app(**settings):
    """Build a ProductionConfig app on the test database, with extra settings."""
    return app_with(ProductionConfig, SECRET_KEY="a-production-secret",
                    SQLALCHEMY_DATABASE_URI=test_database_url(), **settings)


def app_with_origins(config_class, origins):
    settings = {} if origins is None else {"CORS_ORIGINS": origins}
    if config_class is ProductionConfig:
        return production_app(**settings)
    return app_with(config_class, **settings)


def fail_with_sql():
    """A view that breaks in the database, with an email among the statement's parameters."""
    db.session.execute(text("select :email from no_such_table"), {"email": SECRET_EMAIL})


def fail_with_traceback():
    raise RuntimeError("select * from users where email = 'secret'")


class TestSecurityHeaders(BaseTestCase):

    def assert_common_headers(self, response):
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")
        self.assertEqual(response.headers["X-Frame-Options"], "DENY")
        self.assertEqual(response.headers["Referrer-Policy"], "no-referrer")

    def test_json_responses(self):
        """Ensure JSON answers, errors included, are nosniff, unframeable and uncached."""
        for method, path in (("get", "/users"), ("get", "/users/7"), ("get", "/nowhere"),
                             ("delete", "/users/ping")):
            with self.subTest(method=method, path=path):
                response = getattr(self.client, method)(path)
                self.assertEqual(response.mimetype, "application/json")
                self.assert_common_headers(response)
                self.assertEqual(response.headers["Content-Security-Policy"],
                                 "default-src 'none'; frame-ancestors 'none'")
                self.assertEqual(response.headers["Cache-Control"], "no-store")

    def test_html_page_policy_allows_its_own_style(self):
        """Ensure the page gets a policy that keeps its inline style and its form."""
        response = self.client.get("/")
        self.assert_common_headers(response)
        policy = response.headers["Content-Security-Policy"]
        self.assertIn("style-src 'unsafe-inline'", policy)
        self.assertIn("form-action 'self'", policy)
        self.assertNotIn("script-src", policy)
        self.assertIn("<style>", response.get_data(as_text=True))

    def test_hsts_only_over_https(self):
        """Ensure Strict-Transport-Security is sent over HTTPS and not over plain HTTP."""
        self.assertNotIn("Strict-Transport-Security", self.client.get("/users/ping").headers)
        secure = self.client.get("/users/ping", base_url="https://localhost")
        self.assertEqual(secure.headers["Strict-Transport-Security"],
                         "max-age=31536000; includeSubDomains")

    def test_headers_a_view_sets_are_kept(self):
        """Ensure a header a view sets itself is not replaced or repeated."""
        own = {"Cache-Control": "max-age=60", "X-Frame-Options": "SAMEORIGIN"}
        self.app.add_url_rule("/cached", "cached", lambda: ({"status": "success"}, own))
        response = self.app.test_client().get("/cached")
        self.assertEqual(response.headers.getlist("Cache-Control"), ["max-age=60"])
        self.assertEqual(response.headers.getlist("X-Frame-Options"), ["SAMEORIGIN"])
        self.assertEqual(response.headers["X-Content-Type-Options"], "nosniff")

    def test_api_sets_no_cookie(self):
        """Ensure API answers open no session and set no cookie, with or without cookies sent."""
        for headers in ({}, {"Cookie": "theme=dark"}):
            with self.subTest(headers=headers):
                response = self.client.get("/users/ping", headers=headers)
                self.assertEqual(response.status_code, 200)
                self.assertNotIn("Set-Cookie", response.headers)


class TestCorsOrigins(unittest.TestCase):

    def allowed_origin(self, app, origin):
        response = app.test_client().get("/users/ping", headers={"Origin": origin})
        return response.headers.get("Access-Control-Allow-Origin")

    def test_development_allows_every_origin(self):
        """Ensure development keeps the course's CORS: any origin may call the API."""
        app = app_with_origins(DevelopmentConfig, None)
        self.assertIn(self.allowed_origin(app, "http://localhost:3000"),
                      ("*", "http://localhost:3000"))

    def test_production_allows_no_other_origin_by_default(self):
        """Ensure production without CORS_ORIGINS lets no other origin's page read answers."""
        app = app_with_origins(ProductionConfig, None)
        self.assertIsNone(self.allowed_origin(app, "http://evil.example"))

    def test_configured_origins_only(self):
        """Ensure CORS_ORIGINS lists exactly the origins allowed, in any config."""
        origins = "https://users.example, https://admin.example"
        for config_class in (ProductionConfig, DevelopmentConfig):
            with self.subTest(config=config_class.__name__):
                app = app_with_origins(config_class, origins)
                for origin in ("https://users.example", "https://admin.example"):
                    self.assertEqual(self.allowed_origin(app, origin), origin)
                self.assertIsNone(self.allowed_origin(app, "https://evil.example"))
                self.assertIsNone(self.allowed_origin(app, "https://users.example.evil"))

    def test_preflight_for_configured_origin(self):
        """Ensure a configured origin's preflight for a JSON POST is allowed."""
        app = app_with_origins(ProductionConfig, "https://users.example")
        response = app.test_client().options("/users", headers={
            "Origin": "https://users.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        })
        self.assertEqual(response.headers["Access-Control-Allow-Origin"],
                         "https://users.example")
        self.assertIn("POST", response.headers["Access-Control-Allow-Methods"])
        self.assertEqual(response.headers["Access-Control-Allow-Headers"].lower(),
                         "content-type")


class TestProductionNeverDebugs(unittest.TestCase):

    def test_debug_environment_is_ignored(self):
        """Ensure FLASK_DEBUG and friends turn on neither debug mode nor the toolbar."""
        with mock.patch.dict(os.environ, DEBUG_ENVIRONMENT):
            with self.assertLogs("project.security", "WARNING"):
                app = production_app()
            # `flask run` reads it after building the app to decide on Werkzeug's debugger.
            self.assertEqual(os.environ["FLASK_DEBUG"], "0")
        self.assertFalse(app.debug)
        self.assertNotIn("debugtoolbar", app.blueprints)
        self.assertFalse(any(rule.rule.startswith("/_debug_toolbar")
                             for rule in app.url_map.iter_rules()))

    def test_development_does_debug(self):
        """Ensure the check above can fail: development with FLASK_DEBUG does get the toolbar."""
        with mock.patch.dict(os.environ, DEBUG_ENVIRONMENT):
            app = app_with(DevelopmentConfig)
        self.assertTrue(app.debug)
        self.assertIn("debugtoolbar", app.blueprints)

    def test_no_traceback_in_responses(self):
        """Ensure an unexpected error is the JSend 500 alone, even with FLASK_DEBUG set."""
        with mock.patch.dict(os.environ, DEBUG_ENVIRONMENT), self.assertLogs("project"):
            app = production_app()
        app.add_url_rule("/boom", view_func=fail_with_traceback)
        with self.assertLogs("project.errors", "ERROR"):
            response = app.test_client().get("/boom")
        self.assertEqual(response.status_code, 500)
        self.assertEqual(response.get_json(), SERVER_ERROR)
        self.assertNotIn(b"Traceback", response.data)
        self.assertNotIn(b"select", response.data)

    def test_no_sql_in_responses_and_no_values_in_logs(self):
        """Ensure a database error shows no SQL, and its log names the SQL but no values."""
        app = production_app()
        app.add_url_rule("/broken", view_func=fail_with_sql)
        with self.assertLogs("project.errors", "ERROR") as logs:
            response = app.test_client().get("/broken")
        self.assertEqual(response.status_code, 500)
        self.assertEqual(response.get_json(), SERVER_ERROR)
        self.assertNotIn(b"no_such_table", response.data)
        logged = "\n".join(logs.output)
        self.assertIn("ProgrammingError from UndefinedTable (SQLSTATE 42P01)", logged)
        self.assertIn("select %(email)s from no_such_table", logged)
        self.assertIn("fail_with_sql", logged)
        self.assertNotIn(SECRET_EMAIL, logged)
        with app.app_context():
            dispose_engines()


class TestBodiesNotLogged(BaseTestCase):

    def test_request_bodies_stay_out_of_logs(self):
        """Ensure added, refused and duplicate users leave no email in any log record."""
        user = {"username": "secret", "email": SECRET_EMAIL}
        bodies = [json.dumps(user), json.dumps(user), json.dumps({"email": SECRET_EMAIL}),
                  json.dumps({**user, "email": SECRET_EMAIL + "@"})]
        root = logging.getLogger()
        with self.assertLogs(root, "DEBUG") as logs:
            root.debug("capturing")
            statuses = [self.client.post("/users", data=body,
                                         content_type="application/json").status_code
                        for body in bodies]
        self.assertEqual(statuses, [201, 400, 400, 400])
        self.assertNotIn(SECRET_EMAIL, "\n".join(logs.output))

    def test_engine_hides_parameters(self):
        """Ensure SQLAlchemy leaves parameters out of the errors it raises (and so logs)."""
        self.assertTrue(db.engine.hide_parameters)


if __name__ == "__main__":
    unittest.main()
