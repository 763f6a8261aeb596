"""GET /users?limit=&after=: one keyset page, a Link to the next; no parameters, every user."""

import re

from project.config import TestingConfig
from project.tests.base import BaseTestCase, dispose_engines
from project.tests.support import app_with
from project.tests.utils import add_user

NEXT_LINK = re.compile(r'<([^>]+)>; rel="next"')
BAD_LIMIT = {"status": "fail", "message": "limit must be a whole number from 1 to 100."}
BAD_AFTER = {"status": "fail", "message": "after must be a user id."}


def add_users(count, start=0):
    """Add `count` users named from `start` on; return them as the API shows them."""
    return [add_user(f"user{number}", f"user{number}@example.com").to_json()
            for number in range(start, start + count)]


def next_url(response):
    """Return the URL of the `rel="next"` link, or None if the answer has none."""
    found = NEXT_LINK.fullmatch(response.headers.get("Link", ""))
    return found.group(1) if found else None


class TestPages(BaseTestCase):

    def walk(self, url, between_pages=lambda: None):
        """Follow `next` from `url` to the end, calling `between_pages` before each next
        page; return every user seen, in the order seen."""
        seen = []
        while True:
            response = self.client.get(url)
            self.assertEqual(response.status_code, 200)
            seen += response.get_json()["data"]["users"]
            url = next_url(response)
            if url is None:
                return seen
            between_pages()

    def test_first_page(self):
        """Ensure ?limit=N answers the first N users in the course's shape, and a next link."""
        users = add_users(5)
        response = self.client.get("/users?limit=2")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json(), {"status": "success", "data": {"users": users[:2]}})
        self.assertEqual(response.headers["Link"],
                         f'<http://localhost/users?limit=2&after={users[1]["id"]}>; rel="next"')

    def test_next_link_reads_the_next_page(self):
        """Ensure the next link starts after the page's last user."""
        users = add_users(5)
        second = self.client.get(next_url(self.client.get("/users?limit=2")))
        self.assertEqual(second.get_json()["data"]["users"], users[2:4])

    def test_last_page_has_no_next_link(self):
        """Ensure the page that ends the table has no Link, even when it is full."""
        users = add_users(4)
        response = self.client.get(f"/users?limit=2&after={users[1]['id']}")
        self.assertEqual(response.get_json()["data"]["users"], users[2:])
        self.assertNotIn("Link", response.headers)

    def test_walk_visits_every_user_once_in_order(self):
        """Ensure following next from the first page visits every user once, in id order."""
        users = add_users(7)
        self.assertEqual(self.walk("/users?limit=3"), users)

    def test_walk_while_users_are_added(self):
        """Ensure users added between pages are each seen once, at the end, in id order."""
        users = add_users(4)
        added = []

        def add_two():
            if len(added) < 6:
                added.extend(add_users(2, start=100 + len(added)))

        seen = self.walk("/users?limit=2", add_two)
        self.assertEqual(len(added), 6)
        self.assertEqual(seen, users + added)
        self.assertEqual(self.client.get("/users").get_json()["data"]["users"], seen)

    def test_after_alone_is_a_page_of_100(self):
        """Ensure ?after= without limit answers a page of at most 100, with its next link."""
        users = add_users(102)
        response = self.client.get(f"/users?after={users[0]['id']}")
        self.assertEqual(response.get_json()["data"]["users"], users[1:101])
        self.assertEqual(next_url(response),
                         f"http://localhost/users?limit=100&after={users[100]['id']}")

    def test_after_zero_is_the_first_page(self):
        """Ensure after=0 starts at the first user."""
        users = add_users(2)
        response = self.client.get("/users?limit=1&after=0")
        self.assertEqual(response.get_json()["data"]["users"], users[:1])

    def test_after_the_last_user_is_an_empty_page(self):
        """Ensure a cursor past every user answers an empty page without a Link."""
        add_users(2)
        response = self.client.get("/users?limit=5&after=2147483647")
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json(), {"status": "success", "data": {"users": []}})
        self.assertNotIn("Link", response.headers)

    def test_limit_bounds_are_accepted(self):
        """Ensure limit=1 and limit=100 (and 100 with leading zeros) are pages of that size."""
        add_users(101)
        for limit, size in (("1", 1), ("100", 100), ("00100", 100)):
            with self.subTest(limit=limit):
                response = self.client.get(f"/users?limit={limit}")
                self.assertEqual(len(response.get_json()["data"]["users"]), size)

    def test_bad_limit_is_a_400_naming_it(self):
        """Ensure a limit outside 1-100, or not a whole number, is a JSend 400 about limit."""
        for limit in ("0", "101", "-1", "+5", "1.5", "1e2", "ten", "", " 5", "٣",
                      "9" * 5000):
            with self.subTest(limit=limit[:20]):
                response = self.client.get("/users", query_string={"limit": limit})
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.get_json(), BAD_LIMIT)

    def test_bad_after_is_a_400_naming_it(self):
        """Ensure a cursor that is not a user id is a JSend 400 about after."""
        for after in ("-1", "2147483648", "abc", "", "1.0", "0x10", "٣", "9" * 5000):
            with self.subTest(after=after[:20]):
                response = self.client.get("/users", query_string={"limit": "5",
                                                                   "after": after})
                self.assertEqual(response.status_code, 400)
                self.assertEqual(response.get_json(), BAD_AFTER)

    def test_unknown_parameters_keep_every_user(self):
        """Ensure parameters other than limit and after are ignored, as the course does."""
        add_users(3)
        response = self.client.get("/users?page=2&per_page=1&since=1")
        self.assertEqual(response.get_data(), self.client.get("/users").get_data())
        self.assertEqual(len(response.get_json()["data"]["users"]), 3)
        self.assertNotIn("Link", response.headers)

    def test_without_parameters_every_user_and_no_link(self):
        """Ensure the call without parameters is still the course's whole list."""
        users = add_users(3)
        response = self.client.get("/users")
        self.assertEqual(response.get_json(), {"status": "success", "data": {"users": users}})
        self.assertNotIn("Link", response.headers)


class TestNextLinkBehindProxy(BaseTestCase):

    def link_seen(self, hops):
        """Return the Link an app behind `hops` proxies sends a client claiming a host."""
        add_users(2)
        app = app_with(TestingConfig, TRUSTED_PROXY_HOPS=hops)
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "users.example.com"}
        with app.app_context():
            try:
                return app.test_client().get("/users?limit=1", headers=headers).headers["Link"]
            finally:
                dispose_engines()

    def test_next_link_names_the_public_host_behind_nginx(self):
        """Ensure behind a trusted proxy the next link is the client's scheme and host."""
        self.assertEqual(self.link_seen("1"),
                         '<https://users.example.com/users?limit=1&after=1>; rel="next"')

    def test_next_link_ignores_forwarded_headers_without_proxy(self):
        """Ensure a direct client cannot point the next link at another host."""
        self.assertEqual(self.link_seen("0"),
                         '<http://localhost/users?limit=1&after=1>; rel="next"')


class TestLinkExposedToOtherOrigins(BaseTestCase):

    def test_link_header_is_exposed(self):
        """Ensure a cross-origin page may read the Link and X-Request-ID headers (CORS)."""
        add_users(2)
        response = self.client.get("/users?limit=1", headers={"Origin": "http://a.example"})
        self.assertEqual(response.headers["Access-Control-Expose-Headers"],
                         "Link, X-Request-ID")
