"""One error contract: every failure leaves as a JSend body."""

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from project.extensions import db

log = logging.getLogger(__name__)


class APIError(Exception):
    """A client error a view raises; `detail` says more than the course's message."""

    def __init__(self, message, status_code=400, detail=None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.detail = detail


def jsend(status, message, status_code, **extra):
    """Build a JSend response with `status` ("fail" or "error") and `message`."""
    response = jsonify(status=status, message=message, **extra)
    response.status_code = status_code
    return response


def handle_api_error(error):
    extra = {"detail": error.detail} if error.detail else {}
    return jsend("fail", error.message, error.status_code, **extra)


def handle_http_exception(error):
    status = "fail" if error.code < 500 else "error"
    response = jsend(status, error.description, error.code)
    # Keep the headers Werkzeug gives an HTTP error, such as Allow on a 405.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_unexpected_error(error):
    db.session.rollback()
    log.exception("Unhandled error")
    return jsend("error", "Something went wrong. Please try again later.", 500)


def register_error_handlers(app):
    app.register_error_handler(APIError, handle_api_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected_error)
