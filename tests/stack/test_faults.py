"""PostgreSQL and PgBouncer restarted under load, and PostgreSQL turned read-only (the
committed pgbouncer.ini).

One replica of two workers through PgBouncer, eight clients reading and adding users;
`pg_ctl restart -m fast` on the private cluster, or PgBouncer stopped with SIGINT (as
`docker stop` sends it) or SIGKILL and started again. No answer may be a 500 or other than
JSend, none slower than the service's and PgBouncer's timeouts, every 201 stored exactly
once, and every request sent 2 s after PostgreSQL accepts connections again answers 2xx.
"""

import signal
import time

import pytest

from harness.http import request_json
from harness.load import Load, statuses
from harness.ports import free_port
from harness.processes import Processes
from harness.waiting import wait_until
from topology import database_behind_pgbouncer

READERS, WRITERS = 4, 4
# PgBouncer's query_wait_timeout plus its query_timeout (pgbouncer.ini): the longest a
# request may wait on the database side, with a second for the rest.
SLOWEST = 10 + 8 + 1
RECOVERED_WITHIN = 2
UNAVAILABLE = {"status": "error",
               "message": "The database is unavailable. Please try again later."}


@pytest.fixture(scope="module")
def topology(compose, tmp_path_factory):
    with database_behind_pgbouncer(compose, tmp_path_factory.mktemp("fault-logs")) as topology:
        yield topology


def test_postgres_restarted_under_load_behind_pgbouncer(topology, measured):
    """Ensure a restart costs only its own seconds: no 500, no lost write, 2xx within 2 s."""
    def restart_postgres():
        topology.cluster.restart()
        return time.monotonic()

    measured.update(under_load(topology, "restart", restart_postgres))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_pgbouncer_restarted_under_load(topology, measured, sig):
    """Ensure PgBouncer stopped (as `docker stop` or a crash does) and started again costs
    only its own seconds: no 500, no lost write, 2xx within 2 s of it listening again."""
    def restart_pgbouncer():
        process = topology.pgbouncer.process
        process.send_signal(sig)
        process.wait(timeout=30)
        topology.pgbouncer.start(f"pgbouncer-after-{sig.name}")
        return time.monotonic()

    measured.update(under_load(topology, f"bouncer-{sig.name.lower()}", restart_pgbouncer))


def under_load(topology, name, fault):
    """Run `fault` (which returns when its component accepts connections again) under load
    on a new replica, check every answer, and return the numbers."""
    replica = topology.start_replica(name, f"127.0.0.1:{free_port()}", WEB_CONCURRENCY="2")
    topology.wait_for_replica(replica)
    seed = f"{name}-seed"
    try:
        assert request_json(replica.url + "/users", "POST", {
            "username": seed, "email": f"{seed}@fault.example"})[0] == 201
        (row,) = topology.cluster.query(
            f"SELECT id FROM users WHERE username = '{seed}'", database="users_prod")
        with Load([replica.url], f"/users/{row[0]}", readers=READERS, writers=WRITERS,
                  prefix=name) as load:
            time.sleep(2)
            faulted = time.monotonic()
            accepting = fault()
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
    stored = [username for (username,) in topology.cluster.query(
        f"SELECT username FROM users WHERE username LIKE '{name}-%' "
        f"AND username <> '{seed}'", database="users_prod")]
    assert sorted(set(created) - set(stored)) == []
    assert len(stored) == len(set(stored))
    assert "Traceback" not in log and "[ERROR]" not in log, log
    return dict(answers=len(answers), statuses=statuses(answers),
                seconds_down=round(accepting - faulted, 2),
                seconds_of_503_after_accepting=round(max(0, last_503 - accepting), 2),
                slowest_answer_s=round(slowest, 2), writes_lost=0, answers_500=0)


def test_read_only_postgres_refuses_writes_until_writable_again(topology):
    """Ensure writes get the read-only 503, reads and readiness 200, and writes succeed
    again once PostgreSQL is writable, without restarting the replica."""
    replica = topology.start_replica("read-only", f"127.0.0.1:{free_port()}",
                                     WEB_CONCURRENCY="2")
    topology.wait_for_replica(replica)

    def post(username):
        return request_json(replica.url + "/users", "POST", {
            "username": username, "email": f"{username}@fault.example"})

    def refused_write(username):
        answer = post(username)
        return answer if answer[0] == 503 else None

    def set_read_only(setting):
        topology.cluster.psql("-c", f"ALTER SYSTEM SET default_transaction_read_only = {setting}")
        topology.cluster.psql("-c", "SELECT pg_reload_conf()")

    try:
        assert post("read-only-before")[0] == 201
        read_path = replica.url + "/users"
        set_read_only("on")
        # Each server process reads the reloaded setting before its next command.
        refused = wait_until(lambda: refused_write("read-only-refused"), "a write refused", 10)
        reads = [request_json(read_path)[0] for _ in range(20)]
        ready = request_json(replica.url + "/users/ready")[0]
        set_read_only("off")
        wait_until(lambda: post("read-only-after")[0] == 201, "a write accepted again", 10)
        log = Processes.log(replica)
    finally:
        set_read_only("off")
        topology.processes.stop(replica)
    assert refused[1] == {"status": "error", "message": "The database does not accept "
                          "writes right now. Please try again later."}
    assert reads == [200] * 20 and ready == 200
    stored = topology.cluster.query("SELECT username FROM users WHERE username LIKE "
                                    "'read-only-%' ORDER BY id", database="users_prod")
    assert stored == [["read-only-before"], ["read-only-after"]]
    assert "SQLSTATE 25006" in log and "fault.example" not in log, log
    assert "Traceback" not in log, log
