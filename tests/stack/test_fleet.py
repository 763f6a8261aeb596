"""A fleet's connection budget on one PostgreSQL (max_connections 100), as processes.

Five instances of four gunicorn workers (the default threads and pool: four each), under
load on all five at once, straight to PostgreSQL as users_service and then through
PgBouncer: every answer, and the most connections the role held, are recorded. Then a
pool smaller than the threads: on the fast path, where each thread keeps a connection,
gunicorn refuses it and stops with one line; on the plain path (DATABASE_FAST_PATH=off),
with its one connection held behind a lock, the requests that wait for it get the JSend
503, and no worker dies.
The database side is topology.py's: the init files, the one-shot migration, pgbouncer.
"""

import json
import threading
import time

import pytest

from harness.http import request, request_json
from harness.load import Load, statuses
from harness.ports import free_port
from harness.processes import Processes, child_pids
from scratch_postgres import ConnectionSampler, TableLock, psql_over_tcp
from topology import PROD_ENV, SERVICE_ROLE, database_behind_pgbouncer

INSTANCES = 5
WORKERS = 4
# gunicorn.conf.py's threads per worker, and so (project.settings) each
# worker's pool: the most connections an instance may open is WORKERS x POOL.
POOL = 4
MAX_CONNECTIONS = 100
# services/pgbouncer/pgbouncer.ini: server connections per database and role.
PGBOUNCER_POOL = 20
# Clients per instance: more than its WORKERS x POOL threads, so every thread stays busy.
READERS, WRITERS = 10, 10
LOAD_SECONDS = 5
POOL_TIMEOUT = 3  # DATABASE_POOL_TIMEOUT's default, seconds
STATEMENT_TIMEOUT = 5  # DATABASE_STATEMENT_TIMEOUT's default, in seconds
UNAVAILABLE = {"status": "error",
               "message": "The database is unavailable. Please try again later."}


@pytest.fixture(scope="module")
def topology(compose, tmp_path_factory):
    with database_behind_pgbouncer(compose, tmp_path_factory.mktemp("fleet-logs"),
                                   MAX_CONNECTIONS) as topology:
        yield topology


def add_user(topology, url, username):
    """Add a user through `url`; return its id."""
    assert request_json(url + "/users", "POST", {
        "username": username, "email": f"{username}@fleet.example"})[0] == 201
    (row,) = topology.cluster.query(f"SELECT id FROM users WHERE username = '{username}'",
                                    database="users_prod")
    return int(row[0])


def start_instances(topology, via, count, **settings):
    """Start `count` instances on loopback ports and wait until each answers."""
    instances = [topology.start_replica(f"{via}-{number}", f"127.0.0.1:{free_port()}", via,
                                        **settings) for number in range(count)]
    for instance in instances:
        topology.wait_for_replica(instance, timeout=180)
    return instances


@pytest.mark.parametrize("via", ["direct", "pgbouncer"])
def test_five_instances_of_four_workers_answer_every_request(topology, via, measured):
    """Ensure 5 instances x 4 workers answer every request under load, within the budget."""
    # Only this fleet's connections count: PgBouncer's idle ones from before go.
    topology.cluster.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           f"WHERE usename = '{SERVICE_ROLE}'")
    instances = start_instances(topology, via, INSTANCES, WEB_CONCURRENCY=str(WORKERS))
    try:
        read_path = f"/users/{add_user(topology, instances[0].url, f'seed-{via}')}"
        urls = [instance.url for instance in instances]
        with ConnectionSampler(topology.cluster, SERVICE_ROLE) as sampler:
            with Load(urls, read_path, readers=INSTANCES * READERS,
                      writers=INSTANCES * WRITERS, prefix=f"fleet-{via}") as load:
                time.sleep(LOAD_SECONDS / 2)
                # Someone connecting by hand while the fleet is busy.
                person = psql_over_tcp(topology.cluster.port, "postgres",
                                       PROD_ENV["POSTGRES_PASSWORD"], "users_prod",
                                       "-c", "SELECT count(*) > 0 FROM users")
                time.sleep(LOAD_SECONDS / 2)
        logs = [Processes.log(instance) for instance in instances]
    finally:
        for instance in instances:
            topology.processes.stop(instance)
    answers = load.answers
    assert not [answer.error for answer in answers if answer.error]
    assert set(statuses(answers)) <= {200, 201}, statuses(answers)
    assert all(log.count("Booting worker with pid") == WORKERS for log in logs)
    assert not any("Traceback" in log or "[ERROR]" in log for log in logs)
    (stored,) = topology.cluster.query(
        f"SELECT count(*) FROM users WHERE username LIKE 'fleet-{via}-%'", database="users_prod")
    assert int(stored[0]) == statuses(answers, "POST")[201]
    assert (person.returncode, person.stdout) == (0, "t\n"), person.stderr
    budget = INSTANCES * WORKERS * POOL if via == "direct" else PGBOUNCER_POOL
    measured.update(clients=len(load.threads), seconds=round(load.ended - load.started, 1),
                    answers=len(answers), gets=statuses(answers, "GET"),
                    posts=statuses(answers, "POST"),
                    per_second=round(len(answers) / (load.ended - load.started)),
                    peak_connections=sampler.peak, samples=len(sampler.samples),
                    budget=budget)
    assert len(sampler.samples) >= LOAD_SECONDS
    assert 0 < sampler.peak <= budget < MAX_CONNECTIONS


def test_the_fast_path_refuses_a_pool_smaller_than_its_threads(topology):
    """Ensure gunicorn stops at once with one line, rather than starting workers for ever."""
    process = topology.start_replica("fast-pool-of-one", f"127.0.0.1:{free_port()}",
                                     WEB_CONCURRENCY="1", DATABASE_POOL_SIZE="1")
    try:
        returncode = process.wait(timeout=60)
    finally:
        topology.processes.stop(process)
    log = Processes.log(process)
    assert returncode == 1, log
    assert log.count("Error: DATABASE_POOL_SIZE + DATABASE_MAX_OVERFLOW (1) must be at "
                     f"least GUNICORN_THREADS ({POOL})") == 1, log
    assert "Booting worker" not in log and "Traceback" not in log, log


def test_a_request_waits_a_bounded_time_for_a_pooled_connection(topology, measured):
    """Ensure requests beyond a held pool get the JSend 503 after the pool timeout, no crash."""
    (instance,) = start_instances(topology, "pool-of-one", 1, WEB_CONCURRENCY="1",
                                  DATABASE_POOL_SIZE="1", DATABASE_FAST_PATH="off")
    try:
        path = f"/users/{add_user(topology, instance.url, 'pool-of-one')}"
        workers = child_pids(instance.pid)
        assert len(workers) == 1
        answers = []

        def ask():
            response = request(instance.url + path)
            answers.append((response.elapsed, response.status,
                            response.headers.get("Retry-After"), response.body))
        # gunicorn's four threads each take one; one gets the pool's connection and waits
        # on the lock (until the statement timeout), the other three wait for the pool.
        with TableLock(topology.cluster, "users"):
            threads = [threading.Thread(target=ask) for _ in range(POOL)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        assert request_json(instance.url + path)[0] == 200
        assert child_pids(instance.pid) == workers
        log = Processes.log(instance)
    finally:
        topology.processes.stop(instance)
    answers.sort()
    seconds = [answer[0] for answer in answers]
    measured["seconds_to_503"] = [round(value, 2) for value in seconds]
    assert [(status, retry) for _, status, retry, _ in answers] == [(503, "5")] * POOL
    assert all(json.loads(body) == UNAVAILABLE for *_, body in answers)
    # Three waited for the pool; the one that had its connection, for the statement.
    assert all(POOL_TIMEOUT <= value < POOL_TIMEOUT + 1.5 for value in seconds[:-1]), seconds
    assert STATEMENT_TIMEOUT <= seconds[-1] < STATEMENT_TIMEOUT + 1.5, seconds
    assert log.count("QueuePool limit of size 1 overflow 0 reached") == POOL - 1, log
    assert "Traceback" not in log and log.count("Booting worker with pid") == 1, log
