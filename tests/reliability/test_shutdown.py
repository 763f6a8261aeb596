"""SIGTERM while every worker is busy: requests in flight finish, then gunicorn exits 0."""

import contextlib
import json
import signal
import threading
import time

from conftest import Gunicorn, migrate, stored_users
from harness.http import request
from harness.waiting import wait_until

WORKERS = 4
# Requests in flight, as many as there are workers (gthread workers may take several
# each): reads and writes, all held behind a table lock.
IN_FLIGHT = [
    ("GET", "/users", None),
    ("GET", "/users/1", None),
    ("POST", "/users", json.dumps({"username": "inflight1", "email": "inflight1@mherman.org"})),
    ("POST", "/users", json.dumps({"username": "inflight2", "email": "inflight2@mherman.org"})),
]
HOLD_AFTER_SIGTERM = 1.0


def waiting_on_lock(postgres, database):
    """Count the service's statements waiting for the table lock."""
    with contextlib.closing(postgres.connect(database)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from pg_stat_activity where datname = %s "
                           "and wait_event_type = 'Lock'", (database,))
            return cursor.fetchone()[0]


def test_sigterm_lets_requests_in_flight_finish(postgres, metrics):
    database = "reliability_shutdown"
    migrate(postgres.create_database(database))
    server = Gunicorn(postgres.url(database), database, workers=WORKERS).start()
    try:
        assert request(server.base_url + "/users", "POST", json.dumps(
            {"username": "first", "email": "first@mherman.org"})).status == 201
        answers = [None] * len(IN_FLIGHT)

        def send(index):
            method, path, body = IN_FLIGHT[index]
            try:
                answers[index] = request(server.base_url + path, method, body, timeout=30)
            except OSError as error:
                answers[index] = error

        threads = [threading.Thread(target=send, args=(index,), daemon=True)
                   for index in range(len(IN_FLIGHT))]
        with contextlib.closing(postgres.connect(database)) as locker:
            with locker.cursor() as cursor:
                cursor.execute("lock table users in access exclusive mode")
            for thread in threads:
                thread.start()
            wait_until(lambda: waiting_on_lock(postgres, database) == len(IN_FLIGHT),
                       "every worker busy behind the lock", 10, interval=0.05)
            started = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            time.sleep(HOLD_AFTER_SIGTERM)
            assert server.process.poll() is None, "gunicorn quit with requests in flight"
            locker.rollback()
        for thread in threads:
            thread.join(timeout=30)
        exit_code = server.process.wait(timeout=30)
        stopped_after = time.monotonic() - started
    finally:
        server.stop()

    assert [getattr(answer, "status", answer) for answer in answers] == [200, 200, 201, 201]
    assert answers[0].json()["data"]["users"][0]["username"] == "first"
    assert answers[1].json()["data"]["username"] == "first"
    assert exit_code == 0
    assert sorted(stored_users(postgres, database)) == [
        ("first", "first@mherman.org"), ("inflight1", "inflight1@mherman.org"),
        ("inflight2", "inflight2@mherman.org")]
    metrics["graceful_shutdown"] = {
        "workers_busy_at_sigterm": len(IN_FLIGHT), "finished_ok": len(IN_FLIGHT),
        "held_after_sigterm_s": HOLD_AFTER_SIGTERM, "exit_code": exit_code,
        "stopped_after_s": round(stopped_after, 2),
    }
