"""The course's twelve tests of the users API and page."""

import json
import unittest

from project.tests.base import BaseTestCase
from project.tests.utils import add_user


class TestUserService(BaseTestCase):
    """Tests for the Users Service."""

    def post_json(self, url, payload):
        return self.client.post(
            url, data=json.dumps(payload), content_type="application/json"
        )

    def test_users(self):
        """Ensure the /ping route behaves correctly."""
        response = self.client.get("/users/ping")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json(), {"status": "success", "message": "pong!"})

    def test_add_user(self):
        """Ensure a new user can be added to the database."""
        response = self.post_json(
            "/users", {"username": "michael", "email": "michael@mherman.org"}
        )
        self.assertEqual(response.status_code, 201)
        self.assertEqual(
            response.get_json(),
            {"status": "success", "message": "michael@mherman.org was added!"},
        )

    def test_add_user_invalid_json(self):
        """Ensure error is thrown if the JSON object is empty."""
        response = self.post_json("/users", {})
        self.assertEqual(response.status_code, 400)
        body = response.get_json()
        self.assertEqual(body["status"], "fail")
        self.assertEqual(body["message"], "Invalid payload.")

    def test_add_user_invalid_json_keys(self):
        """Ensure error is thrown if the JSON object does not have a username key."""
        response = self.post_json("/users", {"email": "michael@mherman.org"})
        self.assertEqual(response.status_code, 400)
        body = response.get_json()
        self.assertEqual(body["status"], "fail")
        self.assertEqual(body["message"], "Invalid payload.")

    def test_add_user_duplicate_email(self):
        """Ensure error is thrown if the email already exists."""
        payload = {"username": "michael", "email": "michael@mherman.org"}
        self.assertEqual(self.post_json("/users", payload).status_code, 201)
        payload["username"] = "michael2"
        response = self.post_json("/users", payload)
        self.assertEqual(response.status_code, 400)
        self.assertEqual(
            response.get_json(),
            {"status": "fail", "message": "Sorry. That email already exists."},
        )

    def test_single_user(self):
        """Ensure get single user behaves correctly."""
        user = add_user("michael", "michael@mherman.org")
        response = self.client.get(f"/users/{user.id}")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response.get_json(),
            {
                "status": "success",
                "data": {"id": user.id, "username": "michael",
                         "email": "michael@mherman.org", "active": True},
            },
        )

    def test_single_user_no_id(self):
        """Ensure error is thrown if an id is not provided."""
        response = self.client.get("/users/blah")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(
            response.get_json(), {"status": "fail", "message": "User does not exist"}
        )

    def test_single_user_incorrect_id(self):
        """Ensure error is thrown if the id does not exist."""
        response = self.client.get("/users/999")
        self.assertEqual(response.status_code, 404)
        self.assertEqual(
            response.get_json(), {"status": "fail", "message": "User does not exist"}
        )

    def test_all_users(self):
        """Ensure get all users behaves correctly, in id order."""
        first = add_user("michael", "michael@mherman.org")
        second = add_user("fletcher", "fletcher@notreal.com")
        response = self.client.get("/users")
        self.assertEqual(response.status_code, 200)
        body = response.get_json()
        self.assertEqual(body["status"], "success")
        self.assertEqual(
            body["data"]["users"], [first.to_json(), second.to_json()]
        )

    def test_main_no_users(self):
        """Ensure the main route behaves correctly when no users are in the database."""
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        page = response.get_data(as_text=True)
        self.assertIn("All Users", page)
        self.assertIn("No users!", page)

    def test_main_with_users(self):
        """Ensure the main route behaves correctly when users are in the database."""
        add_user("michael", "michael@mherman.org")
        add_user("fletcher", "fletcher@notreal.com")
        response = self.client.get("/")
        self.assertEqual(response.status_code, 200)
        page = response.get_data(as_text=True)
        self.assertIn("All Users", page)
        self.assertNotIn("No users!", page)
        self.assertIn("<li>michael</li>", page)
        self.assertIn("<li>fletcher</li>", page)

    def test_main_add_user(self):
        """Ensure a new user can be added to the database via a POST request."""
        response = self.client.post(
            "/",
            data={"username": "michael", "email": "michael@sonotreal.com"},
            follow_redirects=True,
        )
        self.assertEqual(response.status_code, 200)
        page = response.get_data(as_text=True)
        self.assertIn("All Users", page)
        self.assertNotIn("No users!", page)
        self.assertIn("<li>michael</li>", page)


if __name__ == "__main__":
    unittest.main()
