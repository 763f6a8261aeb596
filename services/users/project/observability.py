"""What the service records about every request: its ID, its metrics, its access line.

`RequestRecorder` wraps the app, as `project.security.SecurityHeaders` does, and for
the same reason: Flask's before/after_request hooks and its context proxies cost a ping
more than what they do here (docs/benchmarks.md). For each request it

- takes the client's X-Request-ID if well-formed, or makes one, and adds it to the
  answer's headers, whatever the answer (a JSend error and a 503 included);
- counts the request in flight;
- when the server closes the answer (after the last byte of a streamed list too): counts
  and times it, by its route's template, and writes its access line.

The route is the one Flask matched, read when the answer starts: Flask's `Request` for
this environ is there as `werkzeug.request` (Werkzeug's `populate_request`) until Flask
ends the request context, after the answer's start.
"""

import logging
import time

from werkzeug.wsgi import ClosingIterator

from project import metrics
from project.logs import ACCESS_LOGGER
from project.request_id import REQUEST_ID_HEADER, REQUEST_ID_KEY, take_or_make

access_log = logging.getLogger(ACCESS_LOGGER)


def register_observability(app):
    """Give every request an ID and an access line; count it unless METRICS is off."""
    app.wsgi_app = RequestRecorder(app.wsgi_app, app.config["METRICS"])


def request_route(environ):
    """The template of the route Flask matched for `environ`, or metrics.UNMATCHED_ROUTE."""
    request = environ.get("werkzeug.request")
    return metrics.route_label(getattr(request, "url_rule", None))


class RequestRecorder:
    """WSGI middleware: a request ID on every answer, metrics and an access line."""

    def __init__(self, wsgi_app, record_metrics):
        self.wsgi_app = wsgi_app
        self.record_metrics = record_metrics

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        request_id = take_or_make(environ.get("HTTP_X_REQUEST_ID"))
        environ[REQUEST_ID_KEY] = request_id
        answered = []

        def start_with_request_id(status, headers, exc_info=None):
            answered.append((status, request_route(environ)))
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(status, headers, exc_info)

        def finish():
            status, route = answered[-1] if answered else ("500", metrics.UNMATCHED_ROUTE)
            self.finish(environ, request_id, int(status[:3]), route,
                        time.perf_counter() - started)

        if self.record_metrics:
            metrics.IN_FLIGHT.inc()
        try:
            body = self.wsgi_app(environ, start_with_request_id)
        except BaseException:
            finish()
            raise
        return ClosingIterator(body, finish)

    def finish(self, environ, request_id, status, route, seconds):
        """Count, time and log a request whose answer has been sent."""
        method = metrics.method_label(environ.get("REQUEST_METHOD", ""))
        if self.record_metrics:
            metrics.IN_FLIGHT.dec()
            metrics.observe_request(method, route, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            duration_ms = round(seconds * 1000, 3)
            access_log.info("%s %s %s %.1f ms", method, route, status, duration_ms,
                            extra={"request_id": request_id, "method": method,
                                   "route": route, "status": status,
                                   "duration_ms": duration_ms})
