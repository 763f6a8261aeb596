"""The app as production serves it: gunicorn, ProductionConfig, real HTTP, PostgreSQL."""

import json
import unittest
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import create_engine, text

from harness.http import request
from project.tests.support import migrated_scratch_database, served_app

THREADS = 16


class TestServedApp(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.database_url = migrated_scratch_database(cls, "served")
        cls.engine = create_engine(cls.database_url)
        cls.addClassCleanup(cls.engine.dispose)
        cls.base_url = cls.enterClassContext(served_app(cls.database_url, workers=2))

    def tearDown(self):
        with self.engine.begin() as connection:
            connection.execute(text("truncate users restart identity"))

    def request(self, method, path, body=None, content_type="application/json"):
        """Send a real HTTP request; return (status, parsed JSON or None, headers)."""
        headers = {"Content-Type": content_type} if content_type else None
        response = request(self.base_url + path, method, body, headers)
        is_json = response.headers.get_content_type() == "application/json"
        return response.status, response.json() if is_json else None, response.headers

    def post_user(self, username, email):
        return self.request("POST", "/users", json.dumps({"username": username,
                                                          "email": email}))

    def stored(self):
        with self.engine.connect() as connection:
            rows = connection.execute(text("select username, email from users order by id"))
            return [tuple(row) for row in rows]

    def test_round_trip(self):
        """Ensure ping, add, read back and list work over real HTTP."""
        self.assertEqual(self.request("GET", "/users/ping")[:2],
                         (200, {"status": "success", "message": "pong!"}))
        status, body, _ = self.post_user("michael", "michael@mherman.org")
        added = {"status": "success", "message": "michael@mherman.org was added!"}
        self.assertEqual((status, body), (201, added))
        user = {"id": 1, "username": "michael", "email": "michael@mherman.org",
                "active": True}
        self.assertEqual(self.request("GET", "/users/1")[:2],
                         (200, {"status": "success", "data": user}))
        self.assertEqual(self.request("GET", "/users")[:2],
                         (200, {"status": "success", "data": {"users": [user]}}))

    def test_bad_input_is_jsend_4xx(self):
        """Ensure each kind of bad input gets its JSend 4xx from the served app."""
        cases = [
            ("POST", "/users", "{oops", "application/json", 400),
            ("POST", "/users", "[1, 2]", "application/json", 400),
            ("POST", "/users", '{"username": "m"}', "text/plain", 415),
            ("POST", "/users", '{"username": 1, "email": "m@x.org"}', "application/json", 400),
            ("POST", "/users", '{"username": "m", "email": "nope"}', "application/json", 400),
            ("POST", "/users", "x" * (65 * 1024), "application/json", 413),
            ("GET", "/users/99999999999", None, None, 404),
            ("GET", "/users/-3", None, None, 404),
            ("GET", "/users/nowhere/else", None, None, 404),
            ("DELETE", "/users/ping", None, None, 405),
        ]
        for method, path, body, content_type, expected in cases:
            with self.subTest(method=method, path=path, expected=expected):
                status, parsed, headers = self.request(method, path, body, content_type)
                self.assertEqual(status, expected)
                self.assertEqual(headers.get_content_type(), "application/json")
                self.assertEqual(parsed["status"], "fail")
        self.assertEqual(self.stored(), [])

    def post_simultaneously(self, users):
        """POST every `(username, email)` in `users` at once; return the answers."""
        with ThreadPoolExecutor(THREADS) as pool:
            return list(pool.map(lambda user: self.post_user(*user), users))

    def assert_one_winner(self, results, message):
        statuses = sorted(status for status, _, _ in results)
        self.assertEqual(statuses, [201] + [400] * (len(results) - 1))
        messages = {body["message"] for status, body, _ in results if status == 400}
        self.assertEqual(messages, {message})
        self.assertEqual(len(self.stored()), 1)

    def test_simultaneous_same_email(self):
        """Ensure simultaneous posts of one email give one 201 and 400s, one row."""
        users = [(f"user{n}", "same@mherman.org") for n in range(THREADS)]
        self.assert_one_winner(self.post_simultaneously(users),
                               "Sorry. That email already exists.")

    def test_simultaneous_same_username(self):
        """Ensure simultaneous posts of one username give one 201 and 400s, one row."""
        users = [("same", f"user{n}@mherman.org") for n in range(THREADS)]
        self.assert_one_winner(self.post_simultaneously(users),
                               "Sorry. That username already exists.")

    def test_simultaneous_distinct_users_all_kept(self):
        """Ensure every acknowledged user among many simultaneous ones is stored."""
        count = THREADS * 4
        results = self.post_simultaneously(
            [(f"user{n}", f"user{n}@mherman.org") for n in range(count)]
        )
        self.assertEqual([status for status, _, _ in results], [201] * count)
        expected = {(f"user{n}", f"user{n}@mherman.org") for n in range(count)}
        self.assertEqual(set(self.stored()), expected)
        status, body, _ = self.request("GET", "/users")
        ids = [user["id"] for user in body["data"]["users"]]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(ids), count)


if __name__ == "__main__":
    unittest.main()
