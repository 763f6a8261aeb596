"""Bad input gets a JSend 4xx, never a 500 or an HTML page, and changes nothing."""

import functools
import json
import unicodedata
import unittest

from project import db
from project.api.models import User
from project.api.validation import FORBIDDEN_CHARACTERS
from project.config import DevelopmentConfig
from project.tests.base import BaseTestCase
from project.tests.support import app_with
from project.tests.utils import add_user

GOOD_USER = {"username": "michael", "email": "michael@mherman.org"}


class APIErrorTestCase(BaseTestCase):

    def assert_fail(self, response, status_code, message="Invalid payload."):
        self.assertEqual(response.status_code, status_code)
        self.assertEqual(response.mimetype, "application/json")
        body = response.get_json()
        self.assertEqual(body["status"], "fail")
        self.assertEqual(body["message"], message)
        return body

    def user_count(self):
        return db.session.scalar(db.select(db.func.count()).select_from(User))

    def post_raw(self, data, content_type="application/json"):
        return self.client.post("/users", data=data, content_type=content_type)

    def post_user(self, **fields):
        return self.post_raw(json.dumps({**GOOD_USER, **fields}))


class TestPayloadErrors(APIErrorTestCase):

    def test_malformed_json(self):
        """Ensure a body that is not JSON is an invalid payload."""
        body = self.assert_fail(self.post_raw('{"username": "michael",'), 400)
        self.assertEqual(body["detail"], "The body is not valid JSON.")

    def test_invalid_utf8(self):
        """Ensure bytes that are not UTF-8 are an invalid payload."""
        self.assert_fail(self.post_raw(b'{"username": "\xff\xfe"}'), 400)

    def test_deeply_nested_json(self):
        """Ensure JSON nested past the parser's recursion limit is a 400, not a 500."""
        self.assert_fail(self.post_raw("[" * 20000 + "]" * 20000), 400)

    def test_body_not_an_object(self):
        """Ensure a JSON array, string, number or null is an invalid payload."""
        for body in ("[]", '["michael"]', '"michael"', "42", "null", "true"):
            with self.subTest(body=body):
                self.assert_fail(self.post_raw(body), 400)

    def test_wrong_content_type(self):
        """Ensure a body sent as text or a form is refused with 415."""
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            with self.subTest(content_type=content_type):
                response = self.post_raw(json.dumps(GOOD_USER), content_type)
                self.assert_fail(response, 415)

    def test_json_with_charset_is_accepted(self):
        """Ensure application/json with a charset parameter is still JSON."""
        response = self.post_raw(json.dumps(GOOD_USER), "application/json; charset=utf-8")
        self.assertEqual(response.status_code, 201)

    def test_missing_fields(self):
        """Ensure a payload without a username or an email is invalid."""
        for payload in ({"username": "michael"}, {"email": "m@mherman.org"},
                        {"name": "michael", "mail": "m@mherman.org"}):
            with self.subTest(payload=payload):
                self.assert_fail(self.post_raw(json.dumps(payload)), 400)

    def test_non_string_fields(self):
        """Ensure numbers, booleans, lists, objects and null are refused as fields."""
        for value in (42, 4.2, True, ["michael"], {"name": "michael"}, None):
            for field in ("username", "email"):
                with self.subTest(field=field, value=value):
                    self.assert_fail(self.post_user(**{field: value}), 400)

    def test_empty_and_blank_fields(self):
        """Ensure empty and whitespace-only fields are refused."""
        for value in ("", " ", "\t \n"):
            for field in ("username", "email"):
                with self.subTest(field=field, value=value):
                    self.assert_fail(self.post_user(**{field: value}), 400)

    def test_over_long_fields(self):
        """Ensure fields over 128 characters are refused, and 128 is accepted."""
        self.assert_fail(self.post_user(username="u" * 129), 400)
        self.assert_fail(self.post_user(email="e" * 120 + "@mherman.org"), 400)
        response = self.post_user(username="u" * 128, email="e" * 116 + "@mherman.org")
        self.assertEqual(response.status_code, 201)

    def test_fields_are_trimmed(self):
        """Ensure surrounding white space is not stored."""
        response = self.post_user(username="  michael ", email=" michael@mherman.org ")
        self.assertEqual(response.status_code, 201)
        user = db.session.scalars(db.select(User)).one()
        self.assertEqual((user.username, user.email), ("michael", "michael@mherman.org"))

    def test_control_characters(self):
        """Ensure NUL, other control characters and lone surrogates are refused."""
        for value in ("mic\x00hael", "mic\x07hael", "mic\nhael", "mic\x7fhael"):
            with self.subTest(value=value):
                self.assert_fail(self.post_user(username=value), 400)
        surrogate = '{"username": "mic\\ud800hael", "email": "michael@mherman.org"}'
        self.assert_fail(self.post_raw(surrogate), 400)

    def test_invalid_email_shapes(self):
        """Ensure an email without a valid local@domain shape is refused."""
        for email in ("michael", "michael@", "@mherman.org", "mi chael@mherman.org",
                      "michael@@mherman.org", "michael@mherman", "michael@.org"):
            with self.subTest(email=email):
                self.assert_fail(self.post_user(email=email), 400)

    def test_unicode_is_kept(self):
        """Ensure non-ASCII names are stored as sent."""
        response = self.post_user(username="Michaël 🚀", email="michaël@mherman.org")
        self.assertEqual(response.status_code, 201)
        self.assertEqual(db.session.scalars(db.select(User.username)).one(), "Michaël 🚀")

    def test_over_large_body(self):
        """Ensure a body over MAX_CONTENT_LENGTH is refused with a JSend 413."""
        payload = json.dumps({**GOOD_USER, "padding": "x" * (64 * 1024)})
        response = self.post_raw(payload)
        self.assertEqual(response.status_code, 413)
        self.assertEqual(response.get_json()["status"], "fail")

    def test_nothing_is_written_by_bad_payloads(self):
        """Ensure refused payloads leave the table as it was."""
        self.post_raw("{")
        self.post_user(username="")
        self.post_user(email="nope")
        self.post_user(username="x" * 200)
        self.assertEqual(self.user_count(), 0)


class TestForbiddenCharacters(unittest.TestCase):

    def test_pattern_is_unicode_control_and_surrogate_categories(self):
        """Ensure the refused characters are exactly Unicode's categories Cc and Cs."""
        differ = [hex(code) for code in range(0x110000)
                  if (unicodedata.category(chr(code)) in ("Cc", "Cs"))
                  != bool(FORBIDDEN_CHARACTERS.search(chr(code)))]
        self.assertEqual(differ, [])


class TestDuplicates(APIErrorTestCase):

    def test_duplicate_username(self):
        """Ensure a taken username is refused with its own message."""
        add_user("michael", "michael@mherman.org")
        response = self.post_user(email="other@mherman.org")
        self.assert_fail(response, 400, "Sorry. That username already exists.")
        self.assertEqual(self.user_count(), 1)

    def test_duplicate_email_keeps_first_user(self):
        """Ensure a refused duplicate leaves the first user untouched."""
        first = add_user("michael", "michael@mherman.org")
        self.post_user(username="someoneelse")
        stored = db.session.scalars(db.select(User)).one()
        self.assertEqual(stored.to_json(), first.to_json())

    def test_username_and_email_taken_is_the_email_message(self):
        """Ensure a username and an email both taken answer as the course: email first."""
        add_user("michael", "michael@mherman.org")
        add_user("fletcher", "fletcher@notreal.com")
        for email in ("michael@mherman.org", "fletcher@notreal.com"):
            with self.subTest(email=email):
                response = self.post_user(email=email)
                self.assert_fail(response, 400, "Sorry. That email already exists.")
        self.assertEqual(self.user_count(), 2)

    def test_username_and_email_taken_on_sqlite(self):
        """Ensure SQLite answers a username and an email both taken the same way."""
        app = app_with(DevelopmentConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
        with app.app_context():
            db.create_all()
            client = app.test_client()
            post = functools.partial(client.post, "/users", content_type="application/json")
            self.assertEqual(post(data=json.dumps(GOOD_USER)).status_code, 201)
            answers = [post(data=json.dumps({**GOOD_USER, **fields})).get_json()["message"]
                       for fields in ({}, {"email": "other@mherman.org"})]
        self.assertEqual(answers, ["Sorry. That email already exists.",
                                   "Sorry. That username already exists."])

    def test_session_usable_after_duplicate(self):
        """Ensure a duplicate rolls back, so the next request still works."""
        add_user("michael", "michael@mherman.org")
        self.post_user()
        response = self.post_user(username="fletcher", email="fletcher@notreal.com")
        self.assertEqual(response.status_code, 201)
        self.assertEqual(self.user_count(), 2)


class TestRoutingErrors(APIErrorTestCase):

    def test_ids_that_name_no_user(self):
        """Ensure negative, zero, non-integer and out-of-range ids are 404s."""
        add_user("michael", "michael@mherman.org")
        for user_id in ("-1", "0", "1.5", "2147483648", "99999999999999999999999",
                        "%D9%A1", "1e3", "%201", "9" * 5000):
            with self.subTest(user_id=user_id):
                response = self.client.get(f"/users/{user_id}")
                self.assert_fail(response, 404, "User does not exist")

    def test_largest_integer_id(self):
        """Ensure the largest id the column holds is looked up, not refused."""
        response = self.client.get("/users/2147483647")
        self.assert_fail(response, 404, "User does not exist")

    def test_unknown_url(self):
        """Ensure unknown URLs under the API are JSend 404s."""
        for url in ("/users/1/extra", "/users/", "/nowhere"):
            with self.subTest(url=url):
                response = self.client.get(url)
                self.assertEqual(response.status_code, 404)
                self.assertEqual(response.get_json()["status"], "fail")

    def test_wrong_method(self):
        """Ensure wrong methods are JSend 405s that say what is allowed."""
        for method, url in (("delete", "/users/ping"), ("put", "/users"),
                            ("post", "/users/1"), ("patch", "/users/1")):
            with self.subTest(method=method, url=url):
                response = getattr(self.client, method)(url)
                self.assertEqual(response.status_code, 405)
                self.assertEqual(response.get_json()["status"], "fail")
                self.assertIn("GET", response.headers["Allow"])


class TestServerErrors(APIErrorTestCase):

    def test_unexpected_error_is_jsend_without_traceback(self):
        """Ensure an unexpected failure answers a JSend error and leaks nothing."""
        db.drop_all()
        with self.assertLogs("project.errors", "ERROR"):
            response = self.client.get("/users")
        self.assertEqual(response.status_code, 500)
        body = response.get_json()
        self.assertEqual(
            body, {"status": "error",
                   "message": "Something went wrong. Please try again later."}
        )
        self.assertNotIn("Traceback", response.get_data(as_text=True))

    def test_session_recovers_after_server_error(self):
        """Ensure the session is rolled back after a 500, so later requests work."""
        db.drop_all()
        with self.assertLogs("project.errors", "ERROR"):
            self.client.get("/users")
        db.create_all()
        response = self.client.get("/users")
        self.assertEqual(response.status_code, 200)


if __name__ == "__main__":
    unittest.main()
