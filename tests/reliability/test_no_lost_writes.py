"""A stream of writes survives PostgreSQL being killed (immediate stop) and started again."""

import json
import threading
import time

from conftest import stored_users
from harness.http import request
from harness.waiting import wait_until

WRITERS = 8
# Each writer stops after this many requests at most, whatever happens.
MAX_PER_WRITER = 4000
ACKED_BEFORE_FAULT = 300
ACKED_AFTER_FAULT = 300
DOWN_FOR = 2.0
# Every tenth request is invalid: it must be refused and leave nothing behind.
INVALID_EVERY = 10


class Writer(threading.Thread):
    """POSTs users one after another and notes each answer (or socket error)."""

    def __init__(self, base_url, number, stop):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.number = number
        self.stop = stop
        self.sent = []

    def run(self):
        for n in range(MAX_PER_WRITER):
            if self.stop.is_set():
                return
            username = f"w{self.number}-{n}"
            valid = n % INVALID_EVERY != INVALID_EVERY - 1
            email = f"{username}@mherman.org" if valid else f"{username}-at-nowhere"
            body = json.dumps({"username": username, "email": email})
            try:
                outcome = request(self.base_url + "/users", "POST", body, timeout=30).status
            except OSError as error:
                outcome = f"socket: {error!r}"
            self.sent.append((username, email, valid, outcome, time.monotonic()))


def acknowledged(writers, since=0.0):
    return sum(1 for writer in writers for *_, outcome, at in list(writer.sent)
               if outcome == 201 and at >= since)


def test_acknowledged_writes_survive_a_killed_database(serve, postgres, metrics):
    with serve("writes", workers=2) as (server, database):
        workers = server.worker_pids()
        stop = threading.Event()
        writers = [Writer(server.base_url, number, stop) for number in range(WRITERS)]
        for writer in writers:
            writer.start()
        try:
            wait_until(lambda: acknowledged(writers) >= ACKED_BEFORE_FAULT,
                       "writes acknowledged before the fault", 60, interval=0.05)
            postgres.stop("immediate")
            time.sleep(DOWN_FOR)
            postgres.start()
            back = time.monotonic()
            wait_until(lambda: acknowledged(writers, since=back) >= ACKED_AFTER_FAULT,
                       "writes acknowledged after PostgreSQL came back", 60, interval=0.05)
        finally:
            stop.set()
            for writer in writers:
                writer.join(timeout=60)
        assert not any(writer.is_alive() for writer in writers)
        rows = stored_users(postgres, database)
        listed = request(server.base_url + "/users").json()["data"]["users"]
        assert server.worker_pids() == workers

    sent = [record for writer in writers for record in writer.sent]
    outcomes = [outcome for _, _, _, outcome, _ in sent]
    socket_errors = [outcome for outcome in outcomes if isinstance(outcome, str)]
    assert socket_errors == []
    assert set(outcomes) <= {201, 400, 503}
    assert outcomes.count(503) > 0, "the fault never reached a request"

    acked = {(username, email) for username, email, _, outcome, _ in sent if outcome == 201}
    refused = {(username, email) for username, email, _, outcome, _ in sent if outcome == 400}
    failed = {(username, email) for username, email, _, outcome, _ in sent if outcome == 503}
    valid = {(username, email) for username, email, is_valid, _, _ in sent if is_valid}
    invalid = {(username, email) for username, email, is_valid, _, _ in sent if not is_valid}
    stored = set(rows)

    assert len(rows) == len(stored), "a user was stored twice"
    assert acked <= stored, f"acknowledged but lost: {sorted(acked - stored)[:5]}"
    assert stored <= valid, f"stored but never sent whole: {sorted(stored - valid)[:5]}"
    assert refused == invalid, "a valid user was refused or an invalid one accepted"
    assert stored.isdisjoint(invalid)
    assert {(user["username"], user["email"]) for user in listed} == stored
    committed_unacknowledged = failed & stored
    metrics["no_lost_writes"] = {
        "posts": len(sent), "acknowledged_201": len(acked), "refused_400": len(refused),
        "failed_503": len(failed), "socket_errors": 0, "database_kills": 1,
        "lost": len(acked - stored), "stored": len(stored),
        "committed_but_answered_503": len(committed_unacknowledged),
    }
