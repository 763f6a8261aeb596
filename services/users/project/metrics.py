"""The service's Prometheus metrics, as each gunicorn worker records them.

Under gunicorn, PROMETHEUS_MULTIPROC_DIR puts prometheus_client in its multiprocess
mode: every worker writes its values to files there, and the master serves their sum
on METRICS_PORT (`project.metrics_exporter`). Run alone (`flask run`, the unit tests),
the values live in this process's default registry.

Every label has a bounded set of values: a route is its template (`/users/<user_id>`),
never the path a client sent, and an unknown method is "other".
"""

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import event
from sqlalchemy.pool import QueuePool

# The label of a request that matched no route (a 404 or 405 from the router).
UNMATCHED_ROUTE = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds; the service's routes answer in about a millisecond, its slowest in seconds.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    5.0, 10.0)
# The kinds of database error `project.errors` counts.
UNAVAILABLE, TIMEOUT, READ_ONLY = "unavailable", "timeout", "read_only"

REQUESTS = Counter("users_http_requests", "HTTP requests answered.",
                   ["method", "route", "status"])
DURATION = Histogram("users_http_request_duration_seconds",
                     "Time from a request's start to its answer.", ["method", "route"],
                     buckets=DURATION_BUCKETS)
IN_FLIGHT = Gauge("users_http_requests_in_flight", "Requests being answered now.",
                  multiprocess_mode="livesum")
POOL_IN_USE = Gauge("users_db_pool_connections_in_use",
                    "Pooled connections checked out (on the fast path each thread keeps one).",
                    multiprocess_mode="livesum")
POOL_WAITS = Counter("users_db_pool_waits",
                     "Checkouts that found every pooled connection in use and had to wait.")
POOL_TIMEOUTS = Counter("users_db_pool_timeouts",
                        "Checkouts that waited DATABASE_POOL_TIMEOUT and got no connection.")
DATABASE_ERRORS = Counter("users_db_errors",
                          "Database faults answered with a 503, by kind.", ["kind"])


def route_label(url_rule):
    """The route's template, or UNMATCHED_ROUTE: never the path itself."""
    return url_rule.rule if url_rule is not None else UNMATCHED_ROUTE


def method_label(method):
    return method if method in KNOWN_METHODS else "other"


# The labelled counter and histogram of each (method, route, status) seen: looked up
# once, not on every request (the labels are bounded, and so is this).
request_children = {}


def observe_request(method, route, status, seconds):
    """Count one answered request and its duration."""
    children = request_children.get((method, route, status))
    if children is None:
        children = request_children[method, route, status] = (
            REQUESTS.labels(method, route, str(status)), DURATION.labels(method, route))
    children[0].inc()
    children[1].observe(seconds)


def count_database_error(kind, pool_timeout=False):
    DATABASE_ERRORS.labels(kind).inc()
    if pool_timeout:
        POOL_TIMEOUTS.inc()


class PoolWatch:
    """Count the pool's connections in use and the checkouts that must wait for one.

    SQLAlchemy's pool events tell when a connection is checked out and in; no event
    fires before a checkout, so the query paths call `before_checkout` themselves.
    """

    def __init__(self, engine, capacity):
        self.pool = engine.pool if isinstance(engine.pool, QueuePool) else None
        self.capacity = capacity
        if self.pool is not None:
            # After `project.database`'s own checkout listener: a connection it refuses
            # is swapped for another before this one counts it.
            event.listen(engine, "checkout", lambda *_: POOL_IN_USE.inc())
            event.listen(engine, "checkin", lambda *_: POOL_IN_USE.dec())

    def before_checkout(self):
        if self.pool is not None and self.pool.checkedout() >= self.capacity:
            POOL_WAITS.inc()


class NoPoolWatch:
    """METRICS=off: nothing counted."""

    def before_checkout(self):
        pass


NO_POOL_WATCH = NoPoolWatch()
