"""What both floors answer: the users service's bodies and status codes, on raw psycopg2.

One autocommit connection per thread, no ORM, no validation library. Each function
returns `(body, status code)`, the pair a Flask view may return: the Flask floor
(bench/flask_floor.py) returns them as they are, the raw floor (bench/floor.py) encodes
them itself, so the two differ only in what Flask does around the same work.

A bad payload gets a bare 400 "Invalid payload." without the service's `detail`: the
benchmark never sends one.
"""

import os
import threading

import psycopg2
import psycopg2.errors

DATABASE_URL = os.environ["DATABASE_URL"]
MAX_USER_ID = 2**31 - 1
NAME_LENGTH = 128
EMAIL_TAKEN = "Sorry. That email already exists."
DUPLICATE_MESSAGES = {
    "users_email_key": EMAIL_TAKEN,
    "users_username_key": "Sorry. That username already exists.",
}
NOT_FOUND = ("The requested URL was not found on the server. If you entered the URL "
             "manually please check your spelling and try again.")
SELECT_USERS = "SELECT id, username, email, active FROM users"
PONG = {"status": "success", "message": "pong!"}

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
    return PONG, 200


def get_user(text):
    number = int(text) if text.isascii() and text.isdigit() else 0
    rows = query(SELECT_USERS + " WHERE id = %s", (number,)) if 1 <= number <= MAX_USER_ID else []
    if not rows:
        return fail("User does not exist"), 404
    return {"status": "success", "data": user_json(rows[0])}, 200


def get_users():
    users = [user_json(row) for row in query(SELECT_USERS + " ORDER BY id")]
    return {"status": "success", "data": {"users": users}}, 200


def add_user(payload):
    """Insert the user in `payload`, the request's parsed JSON (None if it was not JSON)."""
    try:
        username, email = payload["username"].strip(), payload["email"].strip()
    except (TypeError, KeyError, AttributeError):
        return fail("Invalid payload."), 400
    if not (0 < len(username) <= NAME_LENGTH and 0 < len(email) <= NAME_LENGTH):
        return fail("Invalid payload."), 400
    try:
        query("INSERT INTO users (username, email) VALUES (%s, %s) RETURNING id",
              (username, email))
    except psycopg2.errors.UniqueViolation as error:
        return fail(duplicate_message(error.diag.constraint_name, email)), 400
    return {"status": "success", "message": f"{email} was added!"}, 201


def duplicate_message(constraint, email):
    """Name the email whenever it is taken, as the service does.

    With both taken, PostgreSQL reports the first constraint it checks: the username's.
    """
    if constraint != "users_email_key" and query("SELECT 1 FROM users WHERE email = %s",
                                                 (email,)):
        return EMAIL_TAKEN
    return DUPLICATE_MESSAGES[constraint]
