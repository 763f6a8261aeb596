"""docker-compose-prod.yml's production topology run as processes on loopback, then real HTTP.

- users-db, users-migrate, pgbouncer: as topology.py starts them (the init files, then
  the one-shot migration, then Debian's pgbouncer with the committed config).
- users: three replicas, as compose's `--scale users=3` would run them, on 127.0.0.2,
  127.0.0.3 and 127.0.0.4 (one port), each connecting as users_service through pgbouncer.
- client: a stand-in that answers every path with a marker, so what reaches it is known.
- nginx: a copy of prod.conf whose upstream hosts point at loopback (users at the three
  replicas, one server line each, as compose's DNS gives nginx one address per replica)
  and whose listen line moves to loopback (port 80 when it is free); nothing else changed.
"""

import json
import os
import pwd
import re
import shutil
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import (APP_BIN, NGINX_DIR, USERS_DIR, nginx_command, run, shown, tcp_sockets,
                      write_nginx_conf)
from harness.http import request, request_json
from harness.load import Load, statuses
from harness.ports import free_port, port_is_free
from harness.processes import Processes, as_user, scratch_dir
from harness.waiting import wait_until
from local_conf import localise
from scratch_postgres import TableLock
from topology import APP_UID, PROD_ENV, SERVICE_ROLE, PgBouncer, Topology

USER = {"username": "michael", "email": "michael@mherman.org"}
STORED = {"id": 1, "active": True, **USER}
BODY_LIMIT = 64 * 1024
MIGRATIONS = USERS_DIR / "migrations" / "versions"
REPLICA_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
# The replica the fleet test kills.
VICTIM = "127.0.0.3"
# prod.conf: a replica that failed once is left alone this long.
NGINX_FAIL_TIMEOUT = 5
UNAVAILABLE = {"status": "error",
               "message": "The database is unavailable. Please try again later."}
NGINX_UNAVAILABLE = {"status": "error",
                     "message": "The users service is unavailable. Please try again later."}
DUPLICATE_MESSAGES = {"Sorry. That email already exists.",
                      "Sorry. That username already exists."}
# A proxied request in gunicorn's access log (nginx speaks HTTP/1.0 to its upstreams).
PROXIED = re.compile(r'"[A-Z]+ /users\S* HTTP/1\.0" \d{3}')


def head_revision():
    """Return the newest migration's revision id (the one no other revises)."""
    revisions, parents = set(), set()
    for path in MIGRATIONS.glob("*.py"):
        text = path.read_text()
        revisions.add(re.search(r'^revision = "([^"]+)"', text, re.MULTILINE).group(1))
        parent = re.search(r'^down_revision = "([^"]+)"', text, re.MULTILINE)
        if parent:
            parents.add(parent.group(1))
    (head,) = revisions - parents
    return head


class Recorder(BaseHTTPRequestHandler):
    """Answer every request with a marker naming it, and remember its headers."""

    marker = "stand-in"

    def do_GET(self):
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        body = f"{self.marker}: {self.command} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


class ClientStandIn(Recorder):
    marker = "client stand-in"


class HeaderEcho(Recorder):
    marker = "header echo"


def serve(handler):
    """Start a loopback HTTP server for `handler` in a thread; return the server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def start_nginx(processes, work_dir, hosts, conf="prod.conf"):
    """Run nginx with a loopback copy of `conf`; return its base URL."""
    port = 80 if port_is_free(80) else free_port()
    site = localise((NGINX_DIR / conf).read_text(), f"127.0.0.1:{port}", hosts)
    main_conf = write_nginx_conf(work_dir, site, conf)
    check = run(nginx_command(work_dir, main_conf, "-t"))
    assert check.returncode == 0, shown(check)
    process = processes.start(f"nginx-{port}", nginx_command(work_dir, main_conf))
    base_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: request(base_url + "/").status == 200, "nginx answering", 30, process)
    return base_url


def port_free_on(addresses):
    """Return a TCP port nobody listens on at any of `addresses`, as every replica's port."""
    for _ in range(20):
        port = free_port()
        try:
            for address in addresses:
                with socket.socket() as probe:
                    probe.bind((address, port))
            return port
        except OSError:
            continue
    pytest.fail(f"no port free on all of {addresses}")


class Stack(Topology):
    """The topology, three replicas, the client stand-in and nginx in front."""

    def __init__(self, compose, log_dir):
        super().__init__(compose, log_dir)
        self.users_port = port_free_on(REPLICA_ADDRESSES)
        self.replicas = {}
        self.client = serve(ClientStandIn)
        self.nginx_dir = scratch_dir("stack-nginx-")
        self.base_url = None

    def start_users(self, address, name=None):
        """Start (or start again) the replica at `address`; it replaces any earlier one."""
        process = self.start_replica(name or f"users-{address}", f"{address}:{self.users_port}")
        self.replicas[address] = process
        return process

    def start(self):
        self.start_database()
        self.start_pgbouncer()
        for address in REPLICA_ADDRESSES:
            self.start_users(address)
        for replica in self.replicas.values():
            self.wait_for_replica(replica)
        users = ",".join(f"{address}:{self.users_port}" for address in REPLICA_ADDRESSES)
        self.base_url = start_nginx(self.processes, self.nginx_dir, {
            "users": users, "client": f"127.0.0.1:{self.client.server_port}"})

    def replica_logs(self):
        return {address: Processes.log(replica) for address, replica in self.replicas.items()}

    def user_id(self, username):
        (row,) = self.cluster.query(f"SELECT id FROM users WHERE username = '{username}'",
                                    database="users_prod")
        return int(row[0])

    def stop(self):
        try:
            super().stop()
        finally:
            self.client.shutdown()
            self.client.server_close()
            shutil.rmtree(self.nginx_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def stack(compose, tmp_path_factory):
    stack = Stack(compose, tmp_path_factory.mktemp("stack-logs"))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
    assert all(process.poll() is not None for process in stack.processes.started)
    assert not (stack.cluster.data / "postmaster.pid").exists()


def test_database_healthcheck_waits_for_the_init_files(stack):
    """Ensure pg_isready -h fails while create.sql and roles.sh run and passes once done."""
    assert (stack.ready_during_init, stack.ready_after_init) == (2, 0)


def test_create_sql_makes_the_three_databases(stack):
    """Ensure create.sql made users_prod, users_dev and users_test."""
    names = stack.cluster.psql("-c", "SELECT datname FROM pg_database WHERE datname "
                               "LIKE 'users_%' ORDER BY datname").split()
    assert names == ["users_dev", "users_prod", "users_test"]


def test_roles_sh_makes_a_least_privileged_login_role(stack):
    """Ensure roles.sh made users_service: login, no superuser, 80 connections, read and add."""
    assert stack.init_outputs["roles.sh"] == (
        "roles.sh: users_service may connect to users_prod (at most 80 connections).\n")
    (role,) = stack.cluster.query(
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, "
        f"rolconnlimit FROM pg_roles WHERE rolname = '{SERVICE_ROLE}'")
    assert role == ["t", "f", "f", "f", "f", "80"]
    (privileges,) = stack.cluster.query(
        "SELECT " + ", ".join(f"has_table_privilege('{SERVICE_ROLE}', 'users', '{name}')"
                              for name in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"))
        + f", has_schema_privilege('{SERVICE_ROLE}', 'public', 'CREATE')"
        + f", has_database_privilege('{SERVICE_ROLE}', 'users_prod', 'CREATE')"
        + "".join(f", has_database_privilege('{SERVICE_ROLE}', '{name}', 'CONNECT')"
                  for name in ("users_prod", "users_dev", "users_test")),
        database="users_prod")
    assert privileges == ["t", "t", "f", "f", "f", "f", "f", "t", "f", "f"]


def test_the_schema_belongs_to_its_owner(stack):
    """Ensure the migrations' tables and sequence are postgres's, none users_service's."""
    owners = stack.cluster.query(
        "SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n "
        "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S') "
        "ORDER BY 1", database="users_prod")
    assert owners == [["alembic_version", "postgres"], ["users", "postgres"],
                      ["users_id_seq", "postgres"]]


def test_roles_sh_runs_again_on_an_existing_volume(stack):
    """Ensure roles.sh run again by hand succeeds and leaves one users_service."""
    env = {**stack.services.environment("users-db"), "PATH": "/usr/bin:/bin",
           "PGHOST": str(stack.cluster.root), "PGPORT": str(stack.cluster.port)}
    script = str(USERS_DIR / "project" / "db" / "roles.sh")
    result = run(as_user("postgres", ["sh", script]), env=env)
    assert result.returncode == 0, shown(result)
    assert stack.cluster.query(
        f"SELECT count(*) FROM pg_roles WHERE rolname = '{SERVICE_ROLE}'") == [["1"]]
    assert stack.psql_as_service("-c", "SELECT current_user").stdout == f"{SERVICE_ROLE}\n"
    # Development's database sets no service password: the script says so and does nothing.
    without = {name: value for name, value in env.items() if name != "USERS_SERVICE_PASSWORD"}
    result = run(as_user("postgres", ["sh", script]), env=without)
    assert (result.returncode, result.stdout) == (
        0, "roles.sh: no USERS_SERVICE_PASSWORD; the service connects as postgres.\n")


def test_migrate_one_shot_waited_migrated_once_and_exited_first(stack):
    """Ensure users-migrate waited for PostgreSQL, ran every migration once, exited 0 first."""
    log = Processes.log(stack.migrate)
    assert f"Waiting up to 60 s for PostgreSQL at {stack.cluster.address}/users_prod..." in log
    assert "PostgreSQL is up." in log, log
    assert log.count("Running upgrade  -> 0001_create_users") == 1, log
    assert stack.migrate_status == 0
    version = stack.cluster.psql("-c", "SELECT version_num FROM alembic_version",
                                 database="users_prod").split()
    assert version == [head_revision()]
    later = [process for process in stack.processes.started if process is not stack.migrate]
    assert later and all(process.started_at > stack.migrated_at for process in later)


def test_pgbouncer_entrypoint_wrote_the_auth_file(stack):
    """Ensure the entrypoint wrote the role's password for PgBouncer alone, then became it."""
    auth_file = stack.pgbouncer.auth_file
    password = PROD_ENV["USERS_SERVICE_PASSWORD"]
    assert auth_file.read_text() == f'"{SERVICE_ROLE}" "{password}"\n'
    assert (auth_file.stat().st_mode & 0o777, auth_file.owner()) == (0o600, "postgres")
    pid = stack.pgbouncer.process.pid
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert command[:2] == [b"pgbouncer", b"/etc/pgbouncer/pgbouncer.ini"], command
    assert Path(f"/proc/{pid}").stat().st_uid == pwd.getpwnam("postgres").pw_uid


@pytest.mark.parametrize("password, outcome", [
    ('say "when"', (0, '"users_service" "say ""when"""\n', "")),
    ("", (2, "", "USERS_SERVICE_PASSWORD: set USERS_SERVICE_PASSWORD\n")),
], ids=["a quote doubled", "none refused"])
def test_pgbouncer_entrypoint_quotes_the_password_or_refuses_none(password, outcome):
    """Ensure the entrypoint doubles a double quote in the auth file and needs a password."""
    pgbouncer = PgBouncer(None, {"USERS_SERVICE_PASSWORD": password}, "127.0.0.1:5432")
    try:
        # A pgbouncer that shows the auth file where the entrypoint wrote it.
        fake = pgbouncer.root / "bin"
        fake.mkdir(mode=0o755)
        (fake / "pgbouncer").write_text("#!/bin/sh\ncat /run/pgbouncer/userlist.txt\n")
        (fake / "pgbouncer").chmod(0o755)
        result = run(pgbouncer.command(), env=pgbouncer.env(f"{fake}:/usr/bin:/bin"))
        status, stdout, stderr_end = outcome
        assert (result.returncode, result.stdout) == (status, stdout), shown(result)
        assert result.stderr.endswith(stderr_end), shown(result)
    finally:
        pgbouncer.remove()


def test_pgbouncer_refuses_a_wrong_or_missing_password(stack):
    """Ensure PgBouncer asks for the password (no trust) and refuses a wrong one."""
    wrong = stack.psql_as_service("-c", "SELECT 1", password="not-the-password")
    assert wrong.returncode == 2 and "SASL authentication failed" in wrong.stderr, shown(wrong)
    missing = stack.psql_as_service("-c", "SELECT 1", password=None)
    assert missing.returncode == 2 and "no password supplied" in missing.stderr, shown(missing)
    right = stack.psql_as_service("-c", "SELECT current_user")
    assert (right.returncode, right.stdout) == (0, f"{SERVICE_ROLE}\n"), shown(right)


@pytest.mark.parametrize("statement, refusal", [
    ("UPDATE users SET active = false", "permission denied for table users"),
    ("DELETE FROM users", "permission denied for table users"),
    ("CREATE TABLE notes (body text)", "permission denied for schema public"),
    ("DROP TABLE users", "must be owner of table users"),
], ids=["update", "delete", "create", "drop"])
def test_the_service_role_may_not_change_or_drop(stack, statement, refusal):
    """Ensure users_service, through PgBouncer, may not update, delete, create or drop."""
    result = stack.psql_as_service("-c", statement)
    assert result.returncode != 0 and refusal in result.stderr, shown(result)


def test_replicas_waited_for_pgbouncer_and_never_migrated(stack):
    """Ensure each replica waited for its database (PgBouncer) and ran no migration."""
    for address, log in stack.replica_logs().items():
        where = f"{stack.pgbouncer.address}/users_prod"
        assert f"Waiting up to 60 s for PostgreSQL at {where}..." in log, (address, log)
        assert "PostgreSQL is up." in log, (address, log)
        assert "Running upgrade" not in log and "alembic" not in log, (address, log)


def test_entrypoint_execs_gunicorn(stack):
    """Ensure each replica's process becomes gunicorn, with the committed config, as 10001."""
    for replica in stack.replicas.values():
        command = Path(f"/proc/{replica.pid}/cmdline").read_bytes().split(b"\0")
        assert b"gunicorn" in command[1], command
        assert command[-4:-1] == [b"--config", b"gunicorn.conf.py", b"manage:app"], command
        assert Path(f"/proc/{replica.pid}/status").read_text().count(f"\t{APP_UID}\t") >= 1


def test_ping(stack):
    """Ensure GET /users/ping answers pong through nginx."""
    assert request_json(stack.base_url + "/users/ping") == (
        200, {"status": "success", "message": "pong!"})


def test_ready(stack):
    """Ensure GET /users/ready, asked of every replica through nginx, reaches the database."""
    for _ in REPLICA_ADDRESSES:
        assert request_json(stack.base_url + "/users/ready") == (
            200, {"status": "success", "message": "ready"})


def test_add_user(stack):
    """Ensure POST /users adds a user through nginx."""
    assert request_json(stack.base_url + "/users", "POST", USER) == (
        201, {"status": "success", "message": "michael@mherman.org was added!"})


def test_read_user_back(stack):
    """Ensure GET /users/1 and GET /users return the added user through nginx, from each."""
    for _ in REPLICA_ADDRESSES:
        assert request_json(stack.base_url + "/users/1") == (
            200, {"status": "success", "data": STORED})
    assert request_json(stack.base_url + "/users") == (
        200, {"status": "success", "data": {"users": [STORED]}})


def test_the_service_connects_as_users_service(stack):
    """Ensure every session on users_prod is users_service's (PgBouncer's, for the replicas)."""
    sessions = stack.cluster.query(
        "SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'users_prod' "
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")
    assert sessions == [[SERVICE_ROLE]]


def test_bad_payload_gets_json_400(stack):
    """Ensure an empty payload gets the app's JSend 400 through nginx."""
    assert request_json(stack.base_url + "/users", "POST", {}) == (
        400, {"status": "fail", "message": "Invalid payload.",
              "detail": "Send a username and an email."})


def test_users_subpaths_reach_the_app(stack):
    """Ensure /users/... goes to the users service (its JSON 404 for an unknown id)."""
    assert request_json(stack.base_url + "/users/999") == (
        404, {"status": "fail", "message": "User does not exist"})


@pytest.mark.parametrize("path", ["/", "/usersX", "/users-admin", "/userss/1"])
def test_other_paths_go_to_the_client(stack, path):
    """Ensure / and look-alikes such as /usersX go to the client, not the users service."""
    response = request(stack.base_url + path)
    assert (response.status, response.body.decode()) == (200, f"client stand-in: GET {path}")


def padded_user(size, email):
    """A valid user as a JSON body of exactly `size` bytes (whitespace padding)."""
    body = json.dumps({"username": email.split("@")[0], "email": email}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def test_body_at_the_limit_reaches_the_app(stack):
    """Ensure a 64 KiB body passes nginx and the app takes it."""
    body = padded_user(BODY_LIMIT, "limit@mherman.org")
    assert len(body) == BODY_LIMIT
    assert request_json(stack.base_url + "/users", "POST", body=body) == (
        201, {"status": "success", "message": "limit@mherman.org was added!"})


def test_body_over_the_limit_gets_the_apps_413_from_nginx(stack):
    """Ensure nginx stops a body over 64 KiB with the very JSON the app sends for it."""
    body = padded_user(BODY_LIMIT + 1, "over@mherman.org")
    direct = stack.replicas[REPLICA_ADDRESSES[0]]
    from_app = request_json(direct.url + "/users", "POST", body=body)
    from_nginx = request_json(stack.base_url + "/users", "POST", body=body)
    assert from_app[0] == 413 and from_app[1]["status"] == "fail", from_app
    assert from_nginx == from_app
    # Only the direct request reached gunicorn (its access log line may lag the response).
    logged = '"POST /users HTTP/1.1" 413'
    wait_until(lambda: logged in Processes.log(direct), "the access log line", 10)
    logs = "".join(stack.replica_logs().values())
    assert logs.count(logged) == 1
    assert '"POST /users HTTP/1.0" 413' not in logs


def test_gunicorn_ran_the_committed_config(stack):
    """Ensure each replica ran compose's worker count, logged access to stdout, and no error."""
    assert stack.services.environment("users")["WEB_CONCURRENCY"] == "2"
    logs = stack.replica_logs()
    for address, log in logs.items():
        assert log.count("Booting worker with pid") == 2, (address, log)
        assert "[ERROR]" not in log and "Traceback" not in log, (address, log)
    assert any('"GET /users/ping HTTP/1.0" 200' in log for log in logs.values()), logs


def test_nginx_balances_over_every_replica(stack):
    """Ensure nginx sent requests to each of the three replicas."""
    for address, log in stack.replica_logs().items():
        assert PROXIED.search(log), (address, log)


def test_readiness_follows_pgbouncer(stack):
    """Ensure readiness is a JSend 503 while PgBouncer is down and 200 again once it is back."""
    # SIGINT, as `docker stop` sends it (the image's STOPSIGNAL): PgBouncer's safe shutdown.
    assert stack.processes.stop(stack.pgbouncer.process, signal.SIGINT) == 0
    assert "got SIGINT, shutting down" in Processes.log(stack.pgbouncer.process)
    for _ in REPLICA_ADDRESSES:
        status, body = request_json(stack.base_url + "/users/ready")
        assert (status, body) == (503, UNAVAILABLE)
        assert request_json(stack.base_url + "/users/ping")[0] == 200
    stack.pgbouncer.start("pgbouncer-restarted")
    # The pooled connections PgBouncer closed are replaced without a failed request.
    for _ in range(2 * len(REPLICA_ADDRESSES)):
        assert request_json(stack.base_url + "/users/ready") == (
            200, {"status": "success", "message": "ready"})


STATEMENT_TIMEOUT_MS = 1000


@pytest.mark.parametrize("via", ["pgbouncer", "direct"])
def test_statement_timeout_holds_through_pgbouncer(stack, via, measured):
    """Ensure a read behind a table lock gets its 503 at the statement timeout, either way."""
    instance = stack.start_replica(f"timeout-{via}", f"127.0.0.1:{free_port()}", via,
                                   WEB_CONCURRENCY="1",
                                   DATABASE_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT_MS))
    try:
        stack.wait_for_replica(instance)
        assert request_json(instance.url + "/users/1")[0] == 200
        with TableLock(stack.cluster, "users"):
            response = request(instance.url + "/users/1")
        elapsed, status, body = response.elapsed, response.status, response.json()
        assert (status, body) == (503, UNAVAILABLE)
        limit = STATEMENT_TIMEOUT_MS / 1000
        measured["seconds_to_503"] = round(elapsed, 3)
        assert limit <= elapsed < limit + 1.5, elapsed
        assert request_json(instance.url + "/users/1")[0] == 200
        assert "canceling statement due to statement timeout" in Processes.log(instance)
    finally:
        stack.processes.stop(instance)


def served_count(stack, address):
    """Count the requests the replica at `address` has logged as answered."""
    return len(PROXIED.findall(Processes.log(stack.replicas[address])))


def kill_mid_load(stack, load):
    """Under `load`: all three serve; then, with requests held in flight by a table lock,
    SIGKILL the victim's process group; then start it again. Return the moments."""
    moments = {}
    served = {address: served_count(stack, address) for address in REPLICA_ADDRESSES}
    time.sleep(2)
    # All three in nginx's rotation before the lock (one that failed is left alone for
    # NGINX_FAIL_TIMEOUT), so that requests wait at each of them, the victim among them.
    wait_until(lambda: all(served_count(stack, address) >= served[address] + 10
                           for address in REPLICA_ADDRESSES),
               lambda: f"every replica serving the load (before: {served}, now: "
               f"{ {address: served_count(stack, address) for address in REPLICA_ADDRESSES} })",
               NGINX_FAIL_TIMEOUT + 5)
    moments["warm_until"] = time.monotonic()
    with TableLock(stack.cluster, "users") as lock:
        seen = {}

        def held_in_flight():
            seen.update(waiting=lock.count(granted=False), in_flight={
                address: tcp_sockets(address, stack.users_port, "established")
                for address in REPLICA_ADDRESSES},
                answered_under_the_lock=statuses(load.between(lock.taken_at)))
            return seen["waiting"] >= 10 and seen["in_flight"][VICTIM] >= 1
        # Bounded well under the statement timeout, which would end the waits with 503s.
        wait_until(held_in_flight, lambda: f"requests waiting on the lock, some at the victim "
                   f"(last seen: {seen})", 3)
        moments["in_flight_at_victim"] = seen["in_flight"][VICTIM]
        Processes.kill_group(stack.replicas[VICTIM])
        wait_until(lambda: not any(tcp_sockets(VICTIM, stack.users_port, state)
                                   for state in ("listen", "established")),
                   "the victim's sockets closing", 10, interval=0.05)
        moments["killed"] = time.monotonic()
    time.sleep(2)
    restarted = stack.start_users(VICTIM, f"users-{VICTIM}-restarted")
    stack.wait_for_replica(restarted)
    moments["serving_again"] = time.monotonic()
    wait_until(lambda: PROXIED.search(Processes.log(restarted)),
               "nginx sending the restarted replica requests", NGINX_FAIL_TIMEOUT + 5)
    moments["proxied_again"] = time.monotonic()
    time.sleep(1)
    return moments


def test_a_replica_killed_mid_load_costs_no_get_and_no_acknowledged_post(stack, measured):
    """Ensure a replica killed under load costs no GET, loses no 201, writes nothing twice."""
    assert request_json(stack.base_url + "/users", "POST", {
        "username": "fleet-seed", "email": "fleet-seed@fleet.example"})[0] == 201
    read_path = f"/users/{stack.user_id('fleet-seed')}"
    with Load([stack.base_url], read_path, readers=3, writers=12, prefix="kill") as load:
        moments = kill_mid_load(stack, load)
    answers = load.answers
    assert not [answer.error for answer in answers if answer.error]
    warm = load.between(load.started, moments["warm_until"])
    assert set(statuses(warm)) <= {200, 201}, statuses(warm)
    assert set(statuses(load.between(moments["killed"]))) <= {200, 201}
    gets = [answer for answer in answers if answer.method == "GET"]
    assert statuses(gets) == {200: len(gets)}
    assert all(answer.json["data"]["username"] == "fleet-seed" for answer in gets)
    posts = [answer for answer in answers if answer.method == "POST"]
    assert set(statuses(posts)) <= {201, 502}, statuses(posts)
    cut_off = [answer for answer in posts if answer.status == 502]
    assert cut_off, "no POST was in flight at the killed replica"
    assert all(answer.json == NGINX_UNAVAILABLE for answer in cut_off)
    retried = {}
    for answer in cut_off:
        status, body = request_json(stack.base_url + "/users", "POST", answer.payload)
        assert status == 201 or (status == 400 and body["message"] in DUPLICATE_MESSAGES), body
        retried[status] = retried.get(status, 0) + 1
    rows = dict(stack.cluster.query(
        "SELECT username, count(*) FROM users WHERE username LIKE 'kill-%' GROUP BY username",
        database="users_prod"))
    assert set(rows.values()) == {"1"}
    acknowledged = {answer.username for answer in posts if answer.status == 201}
    assert set(rows) == acknowledged | {answer.username for answer in cut_off}
    # What nginx ran into at the victim: requests cut off mid-answer, then (if it tried
    # the victim again while it was down) connections refused.
    errors = (stack.nginx_dir / "error.log").read_text().splitlines()
    at_victim = [line for line in errors
                 if "[error]" in line and f"upstream: \"http://{VICTIM}:" in line]
    cut = [line for line in at_victim if "prematurely closed" in line or "reset by" in line]
    refused = [line for line in at_victim if "Connection refused" in line]
    assert len(cut) >= len(cut_off), "\n".join(at_victim)
    measured.update(
        nginx_cut_off={"GET": sum('request: "GET ' in line for line in cut),
                       "POST": sum('request: "POST ' in line for line in cut)},
        nginx_refused=len(refused),
        seconds=round(load.ended - load.started, 1), answers=len(answers),
        warm=statuses(warm), gets=statuses(gets), posts=statuses(posts),
        in_flight_at_victim=moments["in_flight_at_victim"], retries_of_502=retried,
        rows=len(rows),
        seconds_until_nginx_used_it_again=round(
            moments["proxied_again"] - moments["serving_again"], 2))


def test_restart_keeps_the_data(stack):
    """Ensure the replicas stop gracefully on SIGTERM and a restart of all keeps every user."""
    for replica in stack.replicas.values():
        assert stack.processes.stop(replica, signal.SIGTERM, timeout=25) == 0
    stack.cluster.stop()
    stack.cluster.start(tcp=True)
    for address in REPLICA_ADDRESSES:
        stack.start_users(address, f"users-{address}-after-restart")
    for replica in stack.replicas.values():
        stack.wait_for_replica(replica)
    for _ in REPLICA_ADDRESSES:
        assert request_json(stack.base_url + "/users/1") == (
            200, {"status": "success", "data": STORED})
    assert all("Running upgrade" not in log for log in stack.replica_logs().values())


@pytest.mark.parametrize("conf", ["prod.conf", "dev.conf"])
def test_nginx_forwards_only_its_own_headers(conf, tmp_path_factory):
    """Ensure the users service sees nginx's forwarded headers, never a client's."""
    echo, client = serve(HeaderEcho), serve(ClientStandIn)
    processes = Processes(tmp_path_factory.mktemp("echo-logs"))
    work_dir = scratch_dir("stack-nginx-echo-")
    try:
        base_url = start_nginx(processes, work_dir, {
            "users": f"127.0.0.1:{echo.server_port}",
            "client": f"127.0.0.1:{client.server_port}"}, conf)
        spoofed = {"Host": "users.example.com:8080",
                   "X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.8",
                   "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
                   "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/evil"}
        assert request(base_url + "/users/ping", headers=spoofed).status == 200
        (_, path, headers), = echo.seen
        forwarded = {name: value for name, value in headers.items()
                     if name.lower().startswith("x-") or name.lower() == "host"}
        assert (path, forwarded) == ("/users/ping", {
            "Host": "users.example.com",
            "X-Real-IP": "127.0.0.1",
            "X-Forwarded-For": "203.0.113.7, 127.0.0.1",
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": "users.example.com:8080",
        })
        response = request(base_url + "/usersX")
        assert (response.status, response.body.decode()) == (200, "client stand-in: GET /usersX")
        assert len(echo.seen) == 1
    finally:
        processes.stop_all()
        for server in (echo, client):
            server.shutdown()
            server.server_close()
        shutil.rmtree(work_dir, ignore_errors=True)


def test_dev_nginx_passes_the_hot_reload_websocket(tmp_path_factory):
    """Ensure dev.conf passes a WebSocket upgrade through to the Vite dev server."""
    client = serve(ClientStandIn)
    processes = Processes(tmp_path_factory.mktemp("dev-logs"))
    work_dir = scratch_dir("stack-nginx-dev-")
    try:
        base_url = start_nginx(processes, work_dir, {
            "users": f"127.0.0.1:{free_port()}",
            "client": f"127.0.0.1:{client.server_port}"}, "dev.conf")
        client.seen.clear()
        request(base_url + "/", headers={"Upgrade": "websocket", "Connection": "Upgrade"})
        (_, path, headers), = client.seen
        assert (path, headers["Upgrade"], headers["Connection"]) == ("/", "websocket",
                                                                     "upgrade")
    finally:
        processes.stop_all()
        client.shutdown()
        client.server_close()
        shutil.rmtree(work_dir, ignore_errors=True)


def test_entrypoint_gives_up_clearly_without_a_database(tmp_path):
    """Ensure the entrypoint stops with a clear message when the database never comes."""
    port = free_port()
    env = {"PATH": f"{APP_BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent",
           "APP_SETTINGS": "project.config.ProductionConfig", "SECRET_KEY": "x",
           "DATABASE_URL": f"postgresql://postgres:hunter2@127.0.0.1:{port}/users_prod",
           "DB_WAIT_TIMEOUT": "2"}
    command = as_user(APP_UID, [str(USERS_DIR / "entrypoint-prod.sh")], group=APP_UID)
    result = run(command, cwd="/", env=env, timeout=30)
    assert result.returncode == 1, shown(result)
    assert (f"PostgreSQL at 127.0.0.1:{port}/users_prod did not accept a connection within "
            "2 s; giving up." in result.stderr), shown(result)
    assert "Connection refused" in result.stderr, shown(result)
    assert "hunter2" not in result.stdout + result.stderr
    assert "gunicorn" not in result.stdout + result.stderr.lower(), shown(result)
    assert "Running upgrade" not in result.stdout + result.stderr
    assert os.path.exists(USERS_DIR / "entrypoint-prod.sh")
