"""The floor: about the least a Python service on this stack can do for the four routes.

A raw WSGI app on psycopg2 (one autocommit connection per thread, no framework, no
ORM) that answers the benchmark's requests with byte-for-byte the users service's
JSON bodies and status codes. It is served with the service's own gunicorn settings,
so the distance between the two is what Flask, SQLAlchemy and the service's code cost.

It does not repeat the service's validation details: a bad payload gets a bare
400 "Invalid payload.", which the benchmark never sends.
"""

import json
import os
import threading

import psycopg2
import psycopg2.errors

DATABASE_URL = os.environ["DATABASE_URL"]
MAX_USER_ID = 2**31 - 1
NAME_LENGTH = 128
DUPLICATE_MESSAGES = {
    "users_email_key": "Sorry. That email already exists.",
    "users_username_key": "Sorry. That username already exists.",
}
NOT_FOUND = ("The requested URL was not found on the server. If you entered the URL "
             "manually please check your spelling and try again.")
SELECT_USERS = "SELECT id, username, email, active FROM users"

local = threading.local()


def connection():
    conn = getattr(local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg2.connect(DATABASE_URL)
        conn.autocommit = True
        local.conn = conn
    return conn


def query(sql, params=()):
    with connection().cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def user_json(row):
    user_id, username, email, active = row
    return {"id": user_id, "username": username, "email": email, "active": active}


def fail(message):
    return {"status": "fail", "message": message}


def ping():
    return "200 OK", {"status": "success", "message": "pong!"}


def get_user(text):
    number = int(text) if text.isascii() and text.isdigit() else 0
    rows = query(SELECT_USERS + " WHERE id = %s", (number,)) if 1 <= number <= MAX_USER_ID else []
    if not rows:
        return "404 NOT FOUND", fail("User does not exist")
    return "200 OK", {"status": "success", "data": user_json(rows[0])}


def get_users():
    users = [user_json(row) for row in query(SELECT_USERS + " ORDER BY id")]
    return "200 OK", {"status": "success", "data": {"users": users}}


def add_user(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        payload = json.loads(environ["wsgi.input"].read(length))
        username, email = payload["username"].strip(), payload["email"].strip()
    except (ValueError, TypeError, KeyError, AttributeError):
        return "400 BAD REQUEST", fail("Invalid payload.")
    if not (0 < len(username) <= NAME_LENGTH and 0 < len(email) <= NAME_LENGTH):
        return "400 BAD REQUEST", fail("Invalid payload.")
    try:
        query("INSERT INTO users (username, email) VALUES (%s, %s) RETURNING id",
              (username, email))
    except psycopg2.errors.UniqueViolation as error:
        return "400 BAD REQUEST", fail(DUPLICATE_MESSAGES[error.diag.constraint_name])
    return "201 CREATED", {"status": "success", "message": f"{email} was added!"}


def route(environ):
    method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
    if path == "/users/ping" and method == "GET":
        return ping()
    if path == "/users" and method == "GET":
        return get_users()
    if path == "/users" and method == "POST":
        return add_user(environ)
    if path.startswith("/users/") and path.count("/") == 2 and method == "GET":
        return get_user(path[len("/users/"):])
    return "404 NOT FOUND", fail(NOT_FOUND)


def app(environ, start_response):
    status, body = route(environ)
    # Flask's production JSON: sorted keys, ASCII only, compact, one trailing newline.
    data = (json.dumps(body, separators=(",", ":"), sort_keys=True) + "\n").encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(data)))])
    return [data]
