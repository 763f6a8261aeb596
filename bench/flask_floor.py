"""The Flask floor: the least a Flask app can do for the four routes.

A bare Flask app (no extension, no ORM, no validation library) whose views return what
bench/answers.py works out on raw psycopg2: byte-for-byte the users service's bodies and
status codes, as the raw floor (bench/floor.py) gives them. Served like the service, it
is the service's target; its distance to the raw floor is Flask's own cost.
"""

from flask import Flask, request

import answers

app = Flask(__name__)


@app.get("/users/ping")
def ping():
    return answers.ping()


@app.get("/users/<user_id>")
def get_user(user_id):
    return answers.get_user(user_id)


@app.get("/users")
def get_users():
    return answers.get_users()


@app.post("/users")
def add_user():
    return answers.add_user(request.get_json(silent=True))
