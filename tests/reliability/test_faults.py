"""PostgreSQL goes away under a running service: 503s, fast; no hang, no crash; recovery."""

import contextlib
import json
import time

import pytest

from conftest import stored_users
from harness.http import post_user, request
from harness.waiting import wait_until

UNAVAILABLE = {"status": "error",
               "message": "The database is unavailable. Please try again later."}
# Routes that need the database, with the body they send.
DATABASE_ROUTES = [
    ("GET", "/users/ready", None, None),
    ("GET", "/users", None, None),
    ("GET", "/users/1", None, None),
    ("POST", "/users", json.dumps({"username": "down", "email": "down@mherman.org"}),
     "application/json"),
    ("GET", "/", None, None),
    ("POST", "/", "username=down&email=down%40mherman.org", "application/x-www-form-urlencoded"),
]
ROUNDS_WHILE_DOWN = 20
# A request must be answered within this long while the database is away.
ANSWER_WITHIN = 4.0


@pytest.fixture
def service(serve):
    with serve("faults", workers=2) as (server, database):
        yield server, database


def test_stopped_database_gives_fast_503s_then_recovers(service, postgres, metrics):
    server, database = service
    base = server.base_url
    assert post_user(base, "before", "before@mherman.org").status == 201
    workers = server.worker_pids()

    postgres.stop("fast")
    try:
        answers, slowest = [], 0.0
        for _ in range(ROUNDS_WHILE_DOWN):
            for method, path, body, content_type in DATABASE_ROUTES:
                response = request(base + path, method, body, {"Content-Type": content_type}
                                   if content_type else None, timeout=30)
                slowest = max(slowest, response.elapsed)
                answers.append((method, path, response.status, response.json()))
            ping = request(base + "/users/ping", timeout=30)
            assert (ping.status, ping.json()["message"]) == (200, "pong!")
        wrong = [answer for answer in answers if answer[2:] != (503, UNAVAILABLE)]
        assert wrong == []
        assert slowest < ANSWER_WITHIN
        assert server.worker_pids() == workers
    finally:
        postgres.start()

    started = time.monotonic()
    wait_until(lambda: request(base + "/users/ready").status == 200,
               "readiness after PostgreSQL came back", 30)
    recovered_after = time.monotonic() - started
    assert post_user(base, "after", "after@mherman.org").status == 201
    assert request(base + "/users").json()["data"]["users"][-1]["username"] == "after"
    assert server.worker_pids() == workers
    assert stored_users(postgres, database) == [("before", "before@mherman.org"),
                                                ("after", "after@mherman.org")]
    metrics["database_stopped"] = {
        "requests_while_down": len(answers) + ROUNDS_WHILE_DOWN,
        "answered_503": len(answers), "pings_200": ROUNDS_WHILE_DOWN,
        "slowest_503_ms": round(slowest * 1000), "recovered_after_s": round(recovered_after, 2),
        "worker_restarts": 0,
    }


def test_statement_timeout_under_gunicorn(service, postgres, metrics):
    server, database = service
    with contextlib.closing(postgres.connect(database)) as locker:
        with locker.cursor() as cursor:
            cursor.execute("lock table users in access exclusive mode")
            response = request(server.base_url + "/users", timeout=30)
        locker.rollback()
    assert (response.status, response.json()) == (503, UNAVAILABLE)
    assert 4.5 < response.elapsed < 8
    assert request(server.base_url + "/users").status == 200
    metrics["statement_timeout"] = {"blocked_request_answered_503_after_s":
                                    round(response.elapsed, 2)}


def test_logs_hold_no_email(service, postgres):
    """Posts that succeed, fail and meet a stopped database leave no email in the logs."""
    server, _ = service
    marker = "log.marker.{}@mherman.org"
    assert post_user(server.base_url, "logged1", marker.format(1)).status == 201
    assert post_user(server.base_url, "logged1", marker.format(2)).status == 400
    postgres.stop("fast")
    try:
        assert post_user(server.base_url, "logged3", marker.format(3)).status == 503
    finally:
        postgres.start()
    log = server.log_text()
    assert "Database unavailable" in log
    assert "POST /users" in log
    assert "log.marker" not in log
