"""What the service records about every request: its ID, its metrics, its access line.

- `before_request`: the request's ID (X-Request-ID, taken or made), its start, one
  more request in flight.
- `after_request`: the ID echoed on the answer, whatever the answer (a JSend error
  and a 503 included), and the rest booked for when the answer has been sent.
- When the server closes the answer (Werkzeug's `call_on_close`, after the last byte of
  a streamed list too): the request counted and timed, out of flight, its access line.
"""

import logging
import time

from flask import g, request

from project import metrics
from project.logs import ACCESS_LOGGER
from project.request_id import REQUEST_ID_HEADER, take_or_make

access_log = logging.getLogger(ACCESS_LOGGER)


class RequestSeen:
    """One request as the metrics and the log lines name it."""

    __slots__ = ("request_id", "method", "route", "started")

    def __init__(self, request_id, method, route):
        self.request_id = request_id
        self.method = method
        self.route = route
        self.started = time.perf_counter()


def register_observability(app):
    """Give every request an ID and an access line; count it unless METRICS is off."""
    record_metrics = app.config["METRICS"]

    @app.before_request
    def start_request():
        g.request_seen = RequestSeen(take_or_make(request.headers.get(REQUEST_ID_HEADER)),
                                     metrics.method_label(request.method),
                                     metrics.route_label(request.url_rule))
        if record_metrics:
            metrics.IN_FLIGHT.inc()

    @app.after_request
    def book_request(response):
        seen = g.request_seen
        response.headers[REQUEST_ID_HEADER] = seen.request_id
        status = response.status_code
        response.call_on_close(lambda: finish_request(seen, status, record_metrics))
        return response


def finish_request(seen, status, record_metrics):
    """Count, time and log a request whose answer has been sent."""
    seconds = time.perf_counter() - seen.started
    if record_metrics:
        metrics.IN_FLIGHT.dec()
        metrics.observe_request(seen.method, seen.route, status, seconds)
    duration_ms = round(seconds * 1000, 3)
    access_log.info("%s %s %s %.1f ms", seen.method, seen.route, status, duration_ms,
                    extra={"request_id": seen.request_id, "method": seen.method,
                           "route": seen.route, "status": status,
                           "duration_ms": duration_ms})
