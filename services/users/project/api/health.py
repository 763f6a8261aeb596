"""The `health` blueprint: readiness beside the users API, and the API's description.

`GET /users/ping` (in the users blueprint) says the process answers; `GET /users/ready`
also asks the database, so a balancer sends no traffic to an instance that cannot serve it.
"""

import functools
import os

from flask import Blueprint, current_app
from sqlalchemy import Integer, literal_column, select

from project.api.store import query_path

SPEC_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "openapi.json")

health_blueprint = Blueprint("health", __name__)
# One round trip on the pool every request uses: ready means a request would be served.
SELECT_ONE = select(literal_column("1", Integer).label("ready"))


@health_blueprint.route("/users/ready", methods=["GET"])
def ready():
    """Answer 200 when the database answers; the error handlers make a failure a 503."""
    query_path().rows(SELECT_ONE)
    return {"status": "success", "message": "ready"}


@health_blueprint.route("/users/openapi.json", methods=["GET"])
def openapi():
    """Serve the OpenAPI description kept in the package."""
    return current_app.response_class(openapi_document(), mimetype="application/json")


@functools.cache
def openapi_document():
    """Return the description's bytes, read once."""
    with open(SPEC_PATH, "rb") as spec:
        return spec.read()
