"""The service's log lines: one JSON object each in production, readable text in development.

LOG_FORMAT chooses (json or text), LOG_LEVEL the least level written. Everything the
`project` loggers say goes to stderr, gunicorn's own lines too (gunicorn.conf.py):
the app's messages (`project.errors`, ...) and the access line `project.access` writes
for every request (`project.observability`). A line about a request carries its
request_id, method and route; the access line adds status and duration_ms. None
carries a path, a body or an error's message: those can hold an email address.
"""

import logging
import sys

from flask import has_request_context, request
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

from project.metrics import method_label, route_label
from project.request_id import REQUEST_ID_KEY

APP_LOGGER = "project"
ACCESS_LOGGER = "project.access"
# Marks the handler `register_logging` adds, so building another app replaces it.
HANDLER_NAME = "users.stderr"
# The JSON shape: time, level, logger, message, then the fields a line carries.
JSON_FORMAT = "{levelname}{name}{message}"
JSON_NAMES = {"levelname": "level", "name": "logger"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestFields(logging.Filter):
    """Give a line said during a request that request's ID, method and route."""

    def filter(self, record):
        if has_request_context() and REQUEST_ID_KEY in request.environ:
            record.request_id = request.environ[REQUEST_ID_KEY]
            record.method = method_label(request.method)
            record.route = route_label(request.url_rule)
        return True


def formatter(log_format):
    """The formatter of LOG_FORMAT (gunicorn.conf.py builds the same JSON one)."""
    if log_format == "json":
        return JsonFormatter(JSON_FORMAT, style="{", rename_fields=JSON_NAMES,
                             timestamp="time")
    return logging.Formatter(TEXT_FORMAT, defaults={"request_id": "-"})


def register_logging(app):
    """Send the `project` loggers to stderr in the config's LOG_FORMAT, at its LOG_LEVEL."""
    logger = logging.getLogger(APP_LOGGER)
    for handler in list(logger.handlers):
        # Flask's own, or the one an app built earlier in this process added.
        if handler is default_handler or handler.get_name() == HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter(app.config["LOG_FORMAT"]))
    handler.addFilter(RequestFields())
    logger.addHandler(handler)
    logger.setLevel(app.config["LOG_LEVEL"])
    # The root logger's handlers (gunicorn's, a test runner's) would write each line twice.
    logger.propagate = False
