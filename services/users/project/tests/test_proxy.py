"""X-Forwarded-* headers are believed only when a proxy is configured."""

import unittest

from flask import request

from project.config import TestingConfig
from project.tests.support import app_with


def remote_view():
    return {"addr": request.remote_addr, "scheme": request.scheme, "host": request.host}


class TestTrustedProxy(unittest.TestCase):

    def remote_seen(self, hops):
        app = app_with(TestingConfig, TRUSTED_PROXY_HOPS=hops)
        app.add_url_rule("/remote", view_func=remote_view)
        headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
                   "X-Forwarded-Host": "users.example.com"}
        return app.test_client().get("/remote", headers=headers).get_json()

    def test_forwarded_headers_ignored_without_proxy(self):
        """Ensure a direct client cannot claim another address with X-Forwarded-For."""
        self.assertEqual(self.remote_seen("0"),
                         {"addr": "127.0.0.1", "scheme": "http", "host": "localhost"})

    def test_forwarded_headers_believed_behind_one_proxy(self):
        """Ensure behind nginx the client's address, scheme and host come through."""
        self.assertEqual(self.remote_seen("1"), {"addr": "203.0.113.7", "scheme": "https",
                                                 "host": "users.example.com"})


if __name__ == "__main__":
    unittest.main()
