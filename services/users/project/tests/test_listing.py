"""GET /users: one body for a table that fits in a batch, else batches one after another."""

from unittest import mock

from project.api import store
from project.tests.base import BaseTestCase
from project.tests.utils import add_user


class TestListing(BaseTestCase):
    """Either way the bytes are jsonify's, users in id order."""

    def add_users(self, count):
        return [add_user(f"user{number}", f"user{number}@example.com").to_json()
                for number in range(count)]

    def jsonify_body(self, users):
        return self.app.json.response({"status": "success",
                                       "data": {"users": users}}).get_data()

    def test_table_within_a_batch_is_one_body(self):
        """Ensure a table smaller than a batch is sent whole, with its Content-Length."""
        users = self.add_users(3)
        response = self.client.get("/users")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_data(), self.jsonify_body(users))
        self.assertEqual(response.headers["Content-Length"], str(len(response.get_data())))

    def test_empty_table_is_one_body(self):
        """Ensure an empty table is an empty list, sent whole."""
        response = self.client.get("/users")
        self.assertEqual(response.get_data(), self.jsonify_body([]))
        self.assertIn("Content-Length", response.headers)

    def test_table_over_a_batch_is_sent_batch_by_batch(self):
        """Ensure a table bigger than a batch is streamed, with the same bytes."""
        users = self.add_users(5)
        with mock.patch.object(store, "USERS_PER_BATCH", 2):
            response = self.client.get("/users")
        self.assertEqual(response.status_code, 200)
        self.assertNotIn("Content-Length", response.headers)
        self.assertEqual(response.get_data(), self.jsonify_body(users))

    def test_table_of_exactly_a_batch_is_sent_batch_by_batch(self):
        """Ensure a full first batch is followed by a read that finds nothing more."""
        users = self.add_users(2)
        with mock.patch.object(store, "USERS_PER_BATCH", 2):
            response = self.client.get("/users")
        self.assertNotIn("Content-Length", response.headers)
        self.assertEqual(response.get_data(), self.jsonify_body(users))
