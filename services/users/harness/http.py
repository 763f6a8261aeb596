"""One HTTP request at a time, each on a connection of its own, as a client sends it."""

import http.client
import json
import time
import urllib.parse


class Response:
    """What came back: status, headers, raw body, and the seconds it took."""

    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def json(self):
        return json.loads(self.body)


def request(url, method="GET", body=None, headers=None, timeout=30, source=None):
    """Send one request on a new connection (from the loopback address `source`, if
    given); return its Response.

    A str body is sent as UTF-8, as JSON unless `headers` name another Content-Type.
    Socket errors propagate as OSError.
    """
    target = urllib.parse.urlsplit(url)
    sent = dict(headers or {})
    if body is not None:
        body = body.encode() if isinstance(body, str) else body
        sent.setdefault("Content-Type", "application/json")
    path = (target.path or "/") + (f"?{target.query}" if target.query else "")
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    started = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        return Response(response.status, response.headers, data, time.monotonic() - started)
    finally:
        connection.close()


def request_json(url, method="GET", payload=None, body=None, timeout=30):
    """Send a JSON request; return (status, decoded JSON body), which must be JSON."""
    if payload is not None:
        body = json.dumps(payload)
    response = request(url, method, body, {"Content-Type": "application/json"}, timeout)
    assert response.headers.get_content_type() == "application/json", (response.status,
                                                                       response.body)
    return response.status, response.json()


def post_user(base_url, username, email, timeout=30):
    """POST /users with a new user; return the Response."""
    return request(base_url + "/users", "POST",
                   json.dumps({"username": username, "email": email}), timeout=timeout)
