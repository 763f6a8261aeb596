"""PostgreSQL restarted under load behind PgBouncer (the committed pgbouncer.ini).

One replica of two workers through PgBouncer, eight clients reading and adding users;
`pg_ctl restart -m fast` on the private cluster. No answer may be a 500 or other than
JSend, none slower than the service's and PgBouncer's timeouts, every 201 stored exactly
once, and every request sent 2 s after PostgreSQL accepts connections again answers 2xx.
"""

import json
import time

import pytest

from conftest import Processes, free_port
from http_calls import request, request_json
from load import Load, statuses
from topology import Topology

READERS, WRITERS = 4, 4
# PgBouncer's query_wait_timeout plus its query_timeout (pgbouncer.ini): the longest a
# request may wait on the database side, with a second for the rest.
SLOWEST = 10 + 8 + 1
RECOVERED_WITHIN = 2
UNAVAILABLE = {"status": "error",
               "message": "The database is unavailable. Please try again later."}


@pytest.fixture(scope="module")
def topology(compose, tmp_path_factory):
    topology = Topology(compose, tmp_path_factory.mktemp("fault-logs"))
    try:
        topology.start_database()
        topology.start_pgbouncer()
        yield topology
    finally:
        topology.stop()


def test_postgres_restarted_under_load_behind_pgbouncer(topology, measured):
    """Ensure a restart costs only its own seconds: no 500, no lost write, 2xx within 2 s."""
    replica = topology.start_replica("restart", f"127.0.0.1:{free_port()}",
                                     WEB_CONCURRENCY="2")
    topology.wait_for_replica(replica)
    try:
        assert request_json(replica.url + "/users", "POST", {
            "username": "restart-seed", "email": "restart-seed@fault.example"})[0] == 201
        (row,) = topology.cluster.query(
            "SELECT id FROM users WHERE username = 'restart-seed'", database="users_prod")
        with Load([replica.url], f"/users/{row[0]}", readers=READERS, writers=WRITERS,
                  prefix="restart", request=request) as load:
            time.sleep(2)
            restarted = time.monotonic()
            topology.cluster.restart()
            accepting = time.monotonic()
            time.sleep(RECOVERED_WITHIN + 3)
        log = Processes.log(replica)
    finally:
        topology.processes.stop(replica)
    answers = load.answers
    assert not [answer.error for answer in answers if answer.error]
    assert set(statuses(answers)) <= {200, 201, 503}, statuses(answers)
    failed = [answer for answer in answers if answer.status == 503]
    assert all(answer.json == UNAVAILABLE for answer in failed)
    assert all(answer.json["status"] == "success" for answer in answers
               if answer.status in (200, 201))
    slowest = max(answer.ended - answer.started for answer in answers)
    assert slowest < SLOWEST, slowest
    late = load.between(accepting + RECOVERED_WITHIN)
    assert late and set(statuses(late)) <= {200, 201}, statuses(late)
    last_503 = max((answer.ended for answer in failed), default=accepting)
    created = [answer.username for answer in answers if answer.status == 201]
    stored = [name for (name,) in topology.cluster.query(
        "SELECT username FROM users WHERE username LIKE 'restart-%' "
        "AND username <> 'restart-seed'", database="users_prod")]
    assert sorted(set(created) - set(stored)) == []
    assert len(stored) == len(set(stored))
    assert "Traceback" not in log and "[ERROR]" not in log, log
    measured.update(answers=len(answers), statuses=statuses(answers),
                    seconds_down=round(accepting - restarted, 2),
                    seconds_of_503_after_accepting=round(max(0, last_503 - accepting), 2),
                    slowest_answer_s=round(slowest, 2), writes_lost=0,
                    answers_500=0)
