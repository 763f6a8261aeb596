"""The raw floor: about the least a Python service on this stack can do for the four routes.

A raw WSGI app, no framework, around bench/answers.py (byte-for-byte the users service's
JSON bodies and status codes on psycopg2). It is served with the service's own gunicorn
settings, so the distance between the two is what Flask, SQLAlchemy and the service's
code cost; the Flask floor (bench/flask_floor.py) shows how much of it is Flask's.
"""

import json

import answers

STATUS_LINES = {200: "200 OK", 201: "201 CREATED", 400: "400 BAD REQUEST",
                404: "404 NOT FOUND"}


def json_body(environ):
    """Return the request's parsed JSON body, or None if it is not JSON."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        return json.loads(environ["wsgi.input"].read(length))
    except ValueError:
        return None


def route(environ):
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    if path == "/users/ping" and method == "GET":
        return answers.ping()
    if path == "/users" and method == "GET":
        return answers.get_users()
    if path == "/users" and method == "POST":
        return answers.add_user(json_body(environ))
    if path.startswith("/users/") and path.count("/") == 2 and method == "GET":
        return answers.get_user(path[len("/users/"):])
    return answers.fail(answers.NOT_FOUND), 404


def app(environ, start_response):
    body, status = route(environ)
    # Flask's production JSON: sorted keys, ASCII only, compact, one trailing newline.
    data = (json.dumps(body, separators=(",", ":"), sort_keys=True) + "\n").encode()
    start_response(STATUS_LINES[status], [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(data)))])
    return [data]
