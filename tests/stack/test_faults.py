"""Faults a fleet meets, behind the committed pgbouncer.ini, under load.

One replica of two workers through PgBouncer, eight clients reading and adding users and
a balancer's readiness probe; PostgreSQL restarted (`pg_ctl restart -m fast`), stopped for
30 s, frozen for 20 s (SIGSTOP) or cut off for 20 s (its packets dropped), or PgBouncer
stopped with SIGINT (as `docker stop` sends it) or SIGKILL and started again. No answer
may be a 500 or other than JSend, none slower than PgBouncer's bounds, every 201 stored
exactly once, and every request sent 2 s after the component is back answers 2xx.
PostgreSQL turned read-only refuses writes with a 503 of its own until it is writable.
"""

import contextlib
import os
import shutil
import signal
import time
from dataclasses import dataclass

import pytest

from conftest import run, shown
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
# Straight to PostgreSQL, a half-open connection is given up after the service's TCP user
# timeout (5 s, settings.py), and a new one after its connect timeout (3 s).
SLOWEST_DIRECT = 5 + 3 + 1
# A thread for every client in each worker (gunicorn's gthread workers accept unevenly):
# a request that waited for a busy thread would add that wait to its own.
THREADS = READERS + WRITERS + 1
RECOVERED_WITHIN = 2
STOPPED_FOR = 30
FROZEN_FOR = 20
PROBE_INTERVAL = 0.2
UNAVAILABLE = {"status": "error",
               "message": "The database is unavailable. Please try again later."}


@pytest.fixture(scope="module")
def topology(compose, tmp_path_factory):
    with database_behind_pgbouncer(compose, tmp_path_factory.mktemp("fault-logs")) as topology:
        yield topology


@dataclass
class Outage:
    """When the component was certainly away (from, until; None where the fault does not
    show it) and when it accepted connections again (monotonic seconds)."""

    away: tuple[float, float] | None
    back: float


def test_postgres_restarted_under_load_behind_pgbouncer(topology, measured):
    """Ensure a restart costs only its own seconds: no 500, no lost write, 2xx within 2 s."""
    def restart_postgres():
        topology.cluster.restart()
        return Outage(None, time.monotonic())

    measured.update(under_load(topology, "restart", restart_postgres))


def test_postgres_stopped_for_30_s_behind_pgbouncer(topology, measured):
    """Ensure 30 s without PostgreSQL answer fast JSend 503s, readiness says not ready
    throughout, and 2xx and ready come back within 2 s of PostgreSQL accepting again."""
    def stop_postgres():
        topology.cluster.stop()
        stopped = time.monotonic()
        time.sleep(STOPPED_FOR)
        starting = time.monotonic()
        topology.cluster.start(tcp=True)
        return Outage((stopped, starting), time.monotonic())

    numbers = under_load(topology, "stopped", stop_postgres)
    assert numbers["readiness_while_down"] == {503: numbers["probes_while_down"]}, numbers
    measured.update(numbers)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_pgbouncer_restarted_under_load(topology, measured, sig):
    """Ensure PgBouncer stopped (as `docker stop` or a crash does) and started again costs
    only its own seconds: no 500, no lost write, 2xx within 2 s of it listening again."""
    def restart_pgbouncer():
        process = topology.pgbouncer.process
        process.send_signal(sig)
        process.wait(timeout=30)
        topology.pgbouncer.start(f"pgbouncer-after-{sig.name}")
        return Outage(None, time.monotonic())

    measured.update(under_load(topology, f"bouncer-{sig.name.lower()}", restart_pgbouncer))


def test_postgres_frozen_for_20_s_behind_pgbouncer(topology, measured):
    """Ensure a PostgreSQL that stops answering (SIGSTOP on the postmaster and every
    backend) holds no request past PgBouncer's bounds, and 2xx is back within 2 s of
    SIGCONT."""
    def freeze_postgres():
        frozen = topology.cluster.server_pids()
        signal_all(frozen, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            time.sleep(FROZEN_FOR)
        finally:
            resuming = time.monotonic()
            signal_all(frozen, signal.SIGCONT)
        return Outage((stopped, resuming), time.monotonic())

    measured.update(under_load(topology, "frozen", freeze_postgres))


@pytest.mark.parametrize("via", ["pgbouncer", "direct"])
def test_packets_to_postgres_dropped_for_20_s(topology, measured, via):
    """Ensure connections that go half-open (every packet to and from PostgreSQL's port
    dropped on loopback, nftables) hold no request past the bounds (PgBouncer's, or the
    service's TCP user timeout straight to PostgreSQL), and 2xx is back within 2 s of
    the packets flowing again."""
    def drop_packets():
        with DroppedPackets(topology.cluster.port):
            dropping = time.monotonic()
            time.sleep(FROZEN_FOR)
            flowing = time.monotonic()
        return Outage((dropping, flowing), time.monotonic())

    slowest = SLOWEST if via == "pgbouncer" else SLOWEST_DIRECT
    measured.update(under_load(topology, f"half-open-{via}", drop_packets, via, slowest))


def signal_all(pids, sig):
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class DroppedPackets:
    """Drop every TCP packet to or from `port` on this host (an nftables table of the
    test's own, removed when the block ends): the network between PgBouncer and
    PostgreSQL failing without either end closing its connections."""

    TABLE = "stack_test_faults"

    def __init__(self, port):
        self.port = port

    def nft(self, *args, check=True):
        result = run(["nft", *args])
        assert not check or result.returncode == 0, shown(result)

    def __enter__(self):
        if not shutil.which("nft"):
            pytest.fail("nft is not installed (Debian package nftables, "
                        ".ci/steps/20-containers.sh)")
        self.nft("delete", "table", "inet", self.TABLE, check=False)
        for command in (
                ["add", "table", "inet", self.TABLE],
                ["add", "chain", "inet", self.TABLE, "output",
                 "{ type filter hook output priority 0 ; }"],
                ["add", "rule", "inet", self.TABLE, "output", "tcp", "dport", str(self.port),
                 "drop"],
                ["add", "rule", "inet", self.TABLE, "output", "tcp", "sport", str(self.port),
                 "drop"]):
            self.nft(*command)
        return self

    def __exit__(self, *exc_info):
        self.nft("delete", "table", "inet", self.TABLE)


def under_load(topology, name, fault, via="pgbouncer", slowest_allowed=SLOWEST):
    """Run `fault` (which returns its Outage) under load on a new replica connecting
    `via` PgBouncer or direct, with its readiness probed all along; check every answer
    and return the numbers."""
    replica = topology.start_replica(name, f"127.0.0.1:{free_port()}", via,
                                     WEB_CONCURRENCY="2", GUNICORN_THREADS=str(THREADS))
    topology.wait_for_replica(replica)
    seed = f"{name}-seed"
    try:
        assert request_json(replica.url + "/users", "POST", {
            "username": seed, "email": f"{seed}@fault.example"})[0] == 201
        (row,) = topology.cluster.query(
            f"SELECT id FROM users WHERE username = '{seed}'", database="users_prod")
        with Load([replica.url], f"/users/{row[0]}", readers=READERS, writers=WRITERS,
                  prefix=name) as load, \
                ReadinessProbe(replica.url) as probe:
            time.sleep(2)
            faulted = time.monotonic()
            outage = fault()
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
    slowest = max(answer.ended - answer.started for answer in answers + probe.answers)
    too_slow = [(answer.method, answer.url, answer.status, round(answer.started - faulted, 2),
                 round(answer.ended - answer.started, 2))
                for answer in answers + probe.answers
                if answer.ended - answer.started >= slowest_allowed]
    assert not too_slow, too_slow
    late = load.between(outage.back + RECOVERED_WITHIN)
    assert late and set(statuses(late)) <= {200, 201}, statuses(late)
    assert all(answer.json == UNAVAILABLE for answer in probe.answers if answer.status != 200)
    ready_again = [answer.status for answer in probe.answers
                   if answer.started >= outage.back + RECOVERED_WITHIN]
    assert ready_again and set(ready_again) == {200}, ready_again
    last_503 = max((answer.ended for answer in failed), default=outage.back)
    created = [answer.username for answer in answers if answer.status == 201]
    stored = [username for (username,) in topology.cluster.query(
        f"SELECT username FROM users WHERE username LIKE '{name}-%' "
        f"AND username <> '{seed}'", database="users_prod")]
    assert sorted(set(created) - set(stored)) == []
    assert len(stored) == len(set(stored))
    assert "Traceback" not in log and "[ERROR]" not in log, log
    numbers = dict(answers=len(answers), statuses=statuses(answers),
                   seconds_down=round(outage.back - faulted, 2),
                   seconds_of_503_after_back=round(max(0, last_503 - outage.back), 2),
                   slowest_answer_s=round(slowest, 2), writes_lost=0, answers_500=0)
    if outage.away is not None:
        # Probes sent once the component was gone, and answered before it could be back.
        while_down = [answer for answer in probe.answers
                      if outage.away[0] <= answer.started and answer.ended < outage.away[1]]
        numbers.update(probes_while_down=len(while_down),
                       readiness_while_down=statuses(while_down))
    return numbers


class ReadinessProbe:
    """Ask `GET /users/ready` every PROBE_INTERVAL s, as a balancer does, until stopped."""

    def __init__(self, base_url):
        self.load = Load([base_url], "/users/ready", readers=1, writers=0, prefix="probe",
                         interval=PROBE_INTERVAL)

    def __enter__(self):
        self.load.__enter__()
        return self

    def __exit__(self, *exc_info):
        self.load.__exit__(*exc_info)

    @property
    def answers(self):
        return self.load.answers


def test_read_only_postgres_refuses_writes_until_writable_again(topology, measured):
    """Ensure writes get the read-only 503, reads and readiness 200, and writes succeed
    again once PostgreSQL is writable, without restarting the replica."""
    replica = topology.start_replica("read-only", f"127.0.0.1:{free_port()}",
                                     WEB_CONCURRENCY="2")
    topology.wait_for_replica(replica)
    writes = []

    def post(answered):
        """Add a user of a new name; return its answer if its status is `answered`."""
        username = f"read-only-{len(writes)}"
        status, body = request_json(replica.url + "/users", "POST", {
            "username": username, "email": f"{username}@fault.example"})
        writes.append((username, status, body))
        return (status, body) if status == answered else None

    def set_read_only(setting):
        topology.cluster.psql("-c", f"ALTER SYSTEM SET default_transaction_read_only = {setting}")
        topology.cluster.psql("-c", "SELECT pg_reload_conf()")

    try:
        assert post(201)
        read_path = replica.url + "/users"
        set_read_only("on")
        # Each server process takes the reloaded setting once the postmaster signals it.
        refused = wait_until(lambda: post(503), "a write refused", 10)
        reads = [request_json(read_path)[0] for _ in range(20)]
        ready = request_json(replica.url + "/users/ready")[0]
        set_read_only("off")
        writable = time.monotonic()
        wait_until(lambda: post(201), "a write accepted again", 10)
        accepted_after = time.monotonic() - writable
        log = Processes.log(replica)
    finally:
        set_read_only("off")
        topology.processes.stop(replica)
    assert refused[1] == {"status": "error", "message": "The database does not accept "
                          "writes right now. Please try again later."}
    assert reads == [200] * 20 and ready == 200
    assert {status for _, status, _ in writes} <= {201, 503}, writes
    assert all(body == refused[1] for _, status, body in writes if status == 503)
    stored = topology.cluster.query("SELECT username FROM users WHERE username LIKE "
                                    "'read-only-%' ORDER BY id", database="users_prod")
    assert stored == [[username] for username, status, _ in writes if status == 201]
    assert "SQLSTATE 25006" in log and "fault.example" not in log, log
    assert "Traceback" not in log, log
    measured.update(writes=len(writes), refused=sum(status == 503 for _, status, _ in writes),
                    seconds_until_a_write_was_accepted=round(accepted_after, 2),
                    reads_while_read_only={200: len(reads)}, ready_while_read_only=ready)
