"""The HTML page at /: Post/Redirect/Get, clear messages, escaped input."""

import re
import unittest

from project import db
from project.api.models import User
from project.api.store import USERS_PER_PAGE
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

    def add_users(self, count):
        db.session.add_all(User(username=f"user{n:03}", email=f"user{n:03}@mherman.org")
                           for n in range(count))
        db.session.commit()

    def test_page_shows_one_screen_of_users_and_links_the_next(self):
        """Ensure the page lists the first USERS_PER_PAGE users and links the rest, which
        the link shows, without a link where none follow."""
        self.add_users(USERS_PER_PAGE + 5)
        first = self.client.get("/").get_data(as_text=True)
        self.assertEqual(first.count("<li>"), USERS_PER_PAGE)
        self.assertIn(f"<li>user{USERS_PER_PAGE - 1:03}</li>", first)
        self.assertNotIn(f"<li>user{USERS_PER_PAGE:03}</li>", first)
        link = re.search(r'<a href="([^"]+)" rel="next">', first).group(1)
        last_id = db.session.scalars(db.select(User.id).order_by(User.id)).all()[
            USERS_PER_PAGE - 1]
        self.assertEqual(link, f"/?after={last_id}")
        rest = self.client.get(link).get_data(as_text=True)
        self.assertEqual(rest.count("<li>"), 5)
        self.assertNotIn('rel="next"', rest)

    def test_a_full_last_page_has_no_next_link(self):
        """Ensure exactly one page of users gets no link to an empty page."""
        self.add_users(USERS_PER_PAGE)
        page = self.client.get("/").get_data(as_text=True)
        self.assertEqual(page.count("<li>"), USERS_PER_PAGE)
        self.assertNotIn('rel="next"', page)

    def test_a_bad_after_is_a_400_page(self):
        """Ensure a page start that is not a user id answers 400 with the message."""
        for after in ("abc", "-1", "1.5", str(2**31), "٣"):
            with self.subTest(after=after):
                response = self.client.get("/", query_string={"after": after})
                self.assertEqual(response.status_code, 400)
                self.assertIn("after must be a user id", response.get_data(as_text=True))


if __name__ == "__main__":
    unittest.main()
