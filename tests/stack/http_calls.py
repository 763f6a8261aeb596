"""One HTTP request at a time, as a client sends it: the stack tests' only HTTP client."""

import http.client
import json
import time


def request(url, method="GET", body=None, headers=None, timeout=15, source=None):
    """Send one HTTP request on a connection of its own (from the loopback address
    `source`, if given); return (status, headers, body)."""
    target = http.client.urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    try:
        path = target.path + (f"?{target.query}" if target.query else "")
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def request_json(url, method="GET", payload=None, body=None):
    """Send a JSON request; return (status, decoded JSON body), which must be JSON."""
    if payload is not None:
        body = json.dumps(payload).encode()
    status, headers, data = request(url, method, body, {"Content-Type": "application/json"})
    assert headers.get_content_type() == "application/json", (status, data)
    return status, json.loads(data)


def timed_request_json(url, method="GET", payload=None):
    """Send a JSON request; return (seconds it took, status, decoded body)."""
    started = time.monotonic()
    status, body = request_json(url, method, payload)
    return time.monotonic() - started, status, body
