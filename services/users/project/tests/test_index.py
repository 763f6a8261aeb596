"""The HTML page at /: Post/Redirect/Get, clear messages, escaped input."""

import unittest

from project import db
from project.api.models import User
from project.tests.base import BaseTestCase
from project.tests.utils import add_user


class TestIndexPage(BaseTestCase):

    def post_form(self, **fields):
        return self.client.post("/", data=fields)

    def test_add_redirects_to_index(self):
        """Ensure a successful form post answers a redirect to the page (PRG)."""
        response = self.post_form(username="michael", email="michael@mherman.org")
        self.assertEqual(response.status_code, 302)
        self.assertEqual(response.headers["Location"], "/")

    def test_add_shows_confirmation_after_redirect(self):
        """Ensure the page after the redirect confirms the new user once."""
        self.post_form(username="michael", email="michael@mherman.org")
        page = self.client.get("/").get_data(as_text=True)
        self.assertIn("michael@mherman.org was added!", page)
        again = self.client.get("/").get_data(as_text=True)
        self.assertNotIn("was added!", again)

    def test_page_varies_with_the_session_cookie(self):
        """Ensure the page, which reads the session's messages, says its answer varies
        with the cookie, and an API answer, which never reads it, neither varies nor sets it."""
        page = self.client.get("/")
        self.assertIn("Cookie", page.vary)
        self.assertNotIn("Set-Cookie", page.headers)
        ping = self.client.get("/users/ping")
        self.assertNotIn("Cookie", ping.vary)
        self.assertNotIn("Set-Cookie", ping.headers)

    def test_missing_field_shows_message(self):
        """Ensure a missing field re-renders the page with a message, not a 500."""
        response = self.post_form(username="michael")
        self.assertEqual(response.status_code, 400)
        page = response.get_data(as_text=True)
        self.assertIn("email is required.", page)
        self.assertIn('value="michael"', page)

    def test_empty_form_shows_message(self):
        """Ensure an empty form gets a message."""
        response = self.post_form()
        self.assertEqual(response.status_code, 400)
        self.assertIn("Send a username and an email.", response.get_data(as_text=True))

    def test_duplicate_shows_message(self):
        """Ensure a taken email re-renders the page with the course's message."""
        add_user("michael", "michael@mherman.org")
        response = self.post_form(username="other", email="michael@mherman.org")
        self.assertEqual(response.status_code, 400)
        self.assertIn("Sorry. That email already exists.", response.get_data(as_text=True))
        self.assertEqual(db.session.scalar(db.select(db.func.count(User.id))), 1)

    def test_input_is_escaped(self):
        """Ensure what users typed is escaped in the list and in the refilled form."""
        add_user("<script>alert(1)</script>", "xss@mherman.org")
        page = self.client.get("/").get_data(as_text=True)
        self.assertNotIn("<script>alert(1)</script>", page)
        self.assertIn("&lt;script&gt;alert(1)&lt;/script&gt;", page)
        response = self.post_form(username='"><b>bold</b>', email="not-an-email")
        refilled = response.get_data(as_text=True)
        self.assertNotIn('"><b>bold</b>', refilled)
        self.assertIn("&#34;&gt;&lt;b&gt;bold&lt;/b&gt;", refilled)

    def test_users_listed_in_id_order(self):
        """Ensure the page lists users in the order they were added."""
        add_user("zed", "zed@mherman.org")
        add_user("adam", "adam@mherman.org")
        page = self.client.get("/").get_data(as_text=True)
        self.assertLess(page.index("<li>zed</li>"), page.index("<li>adam</li>"))


if __name__ == "__main__":
    unittest.main()
