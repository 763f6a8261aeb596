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
import time
from pathlib import Path

import pytest

from conftest import APP_BIN, USERS_DIR, run, shown, tcp_sockets
from harness.http import request, request_json
from harness.load import InFlight, Load, new_user, statuses
from harness.ports import free_port
from harness.processes import Processes, as_user, scratch_dir
from harness.waiting import wait_until
from nginx_site import ClientStandIn, HeaderEcho, nginx_output, serve, start_nginx
from scratch_postgres import TableLock, psql_over_tcp
from topology import APP_UID, PROD_ENV, SERVICE_ROLE, PgBouncer, ProdServices, Topology

USER = {"username": "michael", "email": "michael@mherman.org"}
STORED = {"id": 1, "active": True, **USER}
BODY_LIMIT = 64 * 1024
MIGRATIONS = USERS_DIR / "migrations" / "versions"
REPLICA_ADDRESSES = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
# The replica the kill test kills, and the name each replica gives its connections.
VICTIM = "127.0.0.3"
REPLICA_NAMED = {f"users-{address}": address for address in REPLICA_ADDRESSES}
# The requests the kill test holds at a table lock, sent a round at a time: nginx's round
# robin gives each replica one request of every round. Three a replica: all of them
# reach PostgreSQL even if one of its two workers takes them all (four threads each).
HELD_ROUNDS = ["POST", "POST", "GET"]
HELD = "kill-held"
# The requests are held this long at most: under the replicas' statement timeout (5 s,
# the config's default), which would end the waits with 503s.
HOLD_LIMIT = 4
# The load answers this many requests while the killed replica is down.
DOWN_FOR_ANSWERS = 1000
# prod.conf: a replica that failed once is left alone this long.
NGINX_FAIL_TIMEOUT = 5
UNAVAILABLE = {"status": "error",
               "message": "The database is unavailable. Please try again later."}
NGINX_UNAVAILABLE = {"status": "error",
                     "message": "The users service is unavailable. Please try again later."}
UNLIMITED_SIGN_UPS = {"USERS_POST_RATE": "10000r/s", "USERS_POST_BURST": "10000"}
# What the entrypoint prints before gunicorn starts: every other line is JSON.
ENTRYPOINT_LINES = ("Waiting up to ", "PostgreSQL is up.")


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
        """Start (or start again) the replica at `address`; it replaces any earlier one.

        libpq's PGAPPNAME names its connections after it, for pg_stat_activity.
        """
        process = self.start_replica(name or f"users-{address}", f"{address}:{self.users_port}",
                                     PGAPPNAME=f"users-{address}")
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
        # The load tests send every POST from one address: a limit they never reach
        # (test_rate_limit.py runs compose's defaults).
        environment = {**self.services.environment("nginx"), **UNLIMITED_SIGN_UPS}
        self.base_url = start_nginx(self.processes, self.nginx_dir, {
            "users": users, "client": f"127.0.0.1:{self.client.server_port}"},
            environment=environment)

    def replica_logs(self):
        return {address: Processes.log(replica) for address, replica in self.replicas.items()}

    def proxied(self, address):
        """The access lines of the replica at `address` for requests nginx sent it: those
        whose request ID nginx's own access lines carry."""
        from_nginx = {line["request_id"]
                      for line in json_lines(nginx_output(self.processes, self.base_url)
                                             .read_text(errors="replace"))}
        return [line for line in access_lines(Processes.log(self.replicas[address]))
                if line["request_id"] in from_nginx]

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
        + f", has_sequence_privilege('{SERVICE_ROLE}', 'users_id_seq', 'USAGE')"
        + "".join(f", has_table_privilege('{SERVICE_ROLE}', 'alembic_version', '{name}')"
                  for name in ("SELECT", "INSERT", "UPDATE", "DELETE"))
        + f", has_schema_privilege('{SERVICE_ROLE}', 'public', 'CREATE')"
        + f", has_database_privilege('{SERVICE_ROLE}', 'users_prod', 'CREATE')"
        + "".join(f", has_database_privilege('{SERVICE_ROLE}', '{name}', 'CONNECT')"
                  for name in ("users_prod", "users_dev", "users_test", "postgres")),
        database="users_prod")
    assert privileges == ["t", "t", "f", "f", "f", "t", "f", "f", "f", "f", "f", "f",
                          "t", "f", "f", "f"]


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
    ("TRUNCATE users", "permission denied for table users"),
    ("INSERT INTO alembic_version VALUES ('x')", "permission denied for table alembic_version"),
    ("UPDATE alembic_version SET version_num = 'x'",
     "permission denied for table alembic_version"),
    ("DELETE FROM alembic_version", "permission denied for table alembic_version"),
    ("CREATE TABLE notes (body text)", "permission denied for schema public"),
    ("DROP TABLE users", "must be owner of table users"),
], ids=["update", "delete", "truncate", "insert-version", "update-version", "delete-version",
        "create", "drop"])
def test_the_service_role_may_not_change_or_drop(stack, statement, refusal):
    """Ensure users_service, through PgBouncer, may not update, delete, truncate, touch
    the migrations' version, create or drop."""
    result = stack.psql_as_service("-c", statement)
    assert result.returncode != 0 and refusal in result.stderr, shown(result)


@pytest.mark.parametrize("database", ["users_dev", "users_test", "postgres"])
def test_the_service_role_may_connect_to_users_prod_only(stack, database):
    """Ensure users_service, straight to PostgreSQL with its password, is refused every
    database but users_prod."""
    password = PROD_ENV["USERS_SERVICE_PASSWORD"]
    refused = psql_over_tcp(stack.cluster.port, SERVICE_ROLE, password, database,
                            "-c", "SELECT 1")
    assert refused.returncode != 0, shown(refused)
    assert f'permission denied for database "{database}"' in refused.stderr, shown(refused)
    allowed = psql_over_tcp(stack.cluster.port, SERVICE_ROLE, password, "users_prod",
                            "-c", "SELECT 1")
    assert (allowed.returncode, allowed.stdout) == (0, "1\n"), shown(allowed)


def test_a_later_table_is_closed_to_the_service_until_granted(stack):
    """Ensure a table a later revision adds is out of the service's reach unless that
    revision grants it, and a new column on users (the lesson's next step) is in it."""
    stack.cluster.psql("-c", "CREATE TABLE later (body text)", database="users_prod")
    stack.cluster.psql("-c", "ALTER TABLE users ADD COLUMN later text", database="users_prod")
    try:
        closed = stack.psql_as_service("-c", "SELECT * FROM later")
        # In a transaction rolled back, with an id of its own: no row, no id used up.
        added = stack.psql_as_service(
            "-c", "BEGIN", "-c", "INSERT INTO users (id, username, email, later) "
            "VALUES (-1, 'later-column', 'later@column.example', 'yes')",
            "-c", "SELECT later FROM users WHERE id = -1", "-c", "ROLLBACK")
        stack.cluster.psql("-c", "GRANT SELECT ON later TO users_service", database="users_prod")
        granted = stack.psql_as_service("-c", "SELECT count(*) FROM later")
    finally:
        stack.cluster.psql("-c", "DROP TABLE later", "-c", "ALTER TABLE users DROP COLUMN later",
                           database="users_prod")
    assert "permission denied for table later" in closed.stderr, shown(closed)
    assert (added.returncode, added.stdout) == (0, "yes\n"), shown(added)
    assert (granted.returncode, granted.stdout) == (0, "0\n"), shown(granted)


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


def json_lines(text):
    """The lines of `text` that are JSON objects, parsed."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def access_lines(log):
    """The service's access lines in a replica's log."""
    return [line for line in json_lines(log) if line.get("logger") == "project.access"]


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
    # Only the direct request reached the service (its access line may lag the response).

    def refused_bodies():
        return [line for log in stack.replica_logs().values() for line in access_lines(log)
                if (line["route"], line["status"]) == ("/users", 413)]
    wait_until(refused_bodies, "the access line", 10)
    assert len(refused_bodies()) == 1
    assert not [line for address in REPLICA_ADDRESSES for line in stack.proxied(address)
                if line["status"] == 413]


def test_gunicorn_ran_the_committed_config(stack):
    """Ensure each replica ran compose's worker count, logged in JSON lines only (but for
    the entrypoint's wait), access lines included, and no error."""
    assert stack.services.environment("users")["WEB_CONCURRENCY"] == "2"
    logs = stack.replica_logs()
    for address, log in logs.items():
        lines = [line for line in log.splitlines() if not line.startswith(ENTRYPOINT_LINES)]
        assert all(line.startswith("{") for line in lines), (address, log)
        logged = json_lines(log)
        assert len(logged) == len(lines), (address, log)
        assert sum("Booting worker with pid" in line["message"] for line in logged) == 2, log
        assert not [line for line in logged if line["level"] == "ERROR"], (address, log)
        assert "Traceback" not in log, (address, log)
    assert any((line["route"], line["status"]) == ("/users/ping", 200)
               for address in REPLICA_ADDRESSES for line in stack.proxied(address)), logs


def test_nginx_balances_over_every_replica(stack):
    """Ensure nginx sent requests to each of the three replicas."""
    for address in REPLICA_ADDRESSES:
        assert stack.proxied(address), (address, stack.replica_logs()[address])


def test_each_replica_counts_what_it_answered(stack):
    """Ensure each replica's master serves its metrics at the replica's address on compose's
    port, every request it logged counted once, whichever of its two workers answered."""
    def counted_as_logged(address):
        replica = stack.replicas[address]
        scraped = request(replica.metrics_url)
        assert scraped.status == 200, scraped.status
        counts = [float(line.rsplit(" ", 1)[1]) for line in scraped.body.decode().splitlines()
                  if line.startswith("users_http_requests_total{")]
        logged = len(access_lines(Processes.log(replica)))
        return logged > 0 and sum(counts) == logged
    for address in REPLICA_ADDRESSES:
        assert stack.replicas[address].metrics_url == f"http://{address}:9101/metrics"
        wait_until(lambda: counted_as_logged(address), f"{address}'s metrics", 10)


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


def test_postgres_log_keeps_no_personal_data(stack):
    """Ensure duplicates, bad input and a statement timeout leave no email or username in
    PostgreSQL's log, which keeps their SQLSTATE and the constraint's name."""
    instance = stack.start_replica("log-privacy", f"127.0.0.1:{free_port()}",
                                   WEB_CONCURRENCY="1",
                                   DATABASE_STATEMENT_TIMEOUT=str(STATEMENT_TIMEOUT_MS))
    server_log = stack.cluster.root / "server.log"
    logged_before = len(server_log.read_text(errors="replace"))
    secrets = ["privacy-first", "privacy.first@log.example", "privacy-second",
               "privacy.second@log.example", "privacy-locked", "privacy.locked@log.example"]

    def post(username, email):
        return request_json(instance.url + "/users", "POST",
                            {"username": username, "email": email})[0]

    try:
        stack.wait_for_replica(instance)
        assert post(secrets[0], secrets[1]) == 201
        assert post(secrets[2], secrets[1]) == 400  # the email again
        assert post(secrets[0], secrets[3]) == 400  # the username again
        assert post(secrets[2] * 20, secrets[3]) == 400  # too long: refused by the service
        with TableLock(stack.cluster, "users"):
            assert post(secrets[4], secrets[5]) == 503  # the statement timeout
    finally:
        stack.processes.stop(instance)
    logged = server_log.read_text(errors="replace")[logged_before:]
    assert [secret for secret in secrets if secret in logged] == [], logged
    assert re.search(r"users_service@users_prod 23505 ERROR: +duplicate key value violates "
                     r'unique constraint "users_email_key"', logged), logged
    assert 'unique constraint "users_username_key"' in logged, logged
    assert re.search(r"users_service@users_prod 57014 ERROR: +canceling statement due to "
                     "statement timeout", logged), logged


def served_count(stack, address):
    """Count the requests nginx sent the replica at `address` that it logged as answered."""
    return len(stack.proxied(address))


def served_counts(stack):
    """Count, by replica, the requests it has logged as answered."""
    return {address: served_count(stack, address) for address in REPLICA_ADDRESSES}


def sockets_from_nginx(stack):
    """Count, by replica, the connections established to it (nginx's, one a request)."""
    return {address: tcp_sockets(address, stack.users_port, "established")
            for address in REPLICA_ADDRESSES}


def nginx_errors(stack):
    """Return the [error] lines of nginx's error log."""
    lines = (stack.nginx_dir / "error.log").read_text().splitlines()
    return [line for line in lines if "[error]" in line]


def held_at_the_lock(stack):
    """Return, by replica, the requests waiting for the lock on users, as sorted
    (method, username) pairs (username "" for a GET): pg_locks and pg_stat_activity.

    Each replica names its connections (`application_name`), which PgBouncer passes on
    to the server connection it lends; psycopg2 sends a POST's values inside its SQL.
    """
    rows = stack.cluster.query(
        "SELECT a.application_name, CASE WHEN a.query LIKE '%INSERT INTO users%' "
        "THEN 'POST' ELSE 'GET' END, "
        f"coalesce((regexp_match(a.query, '''({HELD}-[0-9-]+)'''))[1], '') "
        "FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE c.relname = 'users' AND NOT l.granted", database="users_prod")
    held = {address: [] for address in REPLICA_ADDRESSES}
    for name, method, username in rows:
        held.setdefault(REPLICA_NAMED.get(name, name), []).append((method, username))
    return {address: sorted(requests) for address, requests in held.items()}


def counted(held):
    """Count the requests in `held` (as held_at_the_lock gives them), by replica."""
    return {address: len(requests) for address, requests in held.items()}


def send_held_round(requests, stack, read_path, number, method):
    """Send one round of requests through nginx, one for each replica, all at once."""
    for slot in range(len(REPLICA_ADDRESSES)):
        name = f"{HELD}-{number}-{slot}"
        if method == "GET":
            requests.send(name, "GET", stack.base_url + read_path)
        else:
            requests.send(name, "POST", stack.base_url + "/users", new_user(name))


def hold_requests_and_kill_the_victim(stack, read_path):
    """Lock users; send HELD_ROUNDS through nginx a round at a time; once PostgreSQL
    shows every request waiting, each at the replica whose socket holds it, SIGKILL the
    victim's process group; once nginx has answered for the victim, release the lock.

    Return what was seen: the requests at the lock before and after the kill, the
    sockets, the answers given under the lock, and every answer once released.
    """
    requests = InFlight()
    seen = {}
    sent = len(HELD_ROUNDS) * len(REPLICA_ADDRESSES)
    with TableLock(stack.cluster, "users") as lock:
        deadline = lock.taken_at + HOLD_LIMIT

        def left():
            return max(0, deadline - time.monotonic())
        for number, method in enumerate(HELD_ROUNDS):
            send_held_round(requests, stack, read_path, number, method)
            # Every request of this round has its replica before the next round goes:
            # the round's picks are consecutive, so each replica gets one of them.
            connected = len(REPLICA_ADDRESSES) * (number + 1)
            wait_until(lambda: sum(sockets_from_nginx(stack).values()) == connected,
                       lambda: f"nginx connecting round {number} ({sockets_from_nginx(stack)})",
                       left(), interval=0.01)

        def all_waiting():
            seen.update(at_the_lock=held_at_the_lock(stack), sockets=sockets_from_nginx(stack))
            return (counted(seen["at_the_lock"]) == seen["sockets"]
                    and sum(seen["sockets"].values()) == sent)
        wait_until(all_waiting, lambda: f"the {sent} requests waiting on the lock, each at "
                   f"its replica (last seen: {seen})", left(), interval=0.02)
        seen["answered_before_the_kill"] = requests.answered()
        Processes.kill_group(stack.replicas[VICTIM])
        wait_until(lambda: not any(tcp_sockets(VICTIM, stack.users_port, state)
                                   for state in ("listen", "established")),
                   "the victim's sockets closing", left(), interval=0.01)
        cut_off = {username for method, username in seen["at_the_lock"][VICTIM]
                   if method == "POST"}

        def victim_answered_for():
            seen.update(after_the_kill=held_at_the_lock(stack),
                        answered_under_the_lock=requests.answered())
            return (set(seen["answered_under_the_lock"]) == cut_off
                    and sum(counted(seen["after_the_kill"]).values()) == sent + 1)
        # nginx answers the victim's POSTs and passes its GET on to another replica.
        wait_until(victim_answered_for, lambda: f"nginx answering for the victim (last "
                   f"seen: {seen})", left(), interval=0.02)
        seen["errors_under_the_lock"] = nginx_errors(stack)
    seen["seconds_held"] = lock.released_at - lock.taken_at
    seen["answers"] = requests.wait()
    return seen


def restart_the_victim(stack, load):
    """Under `load`: the victim stays down a while, is started again, and serves again.

    Return the moments it answered again and nginx used it again.
    """
    # Down while the load goes on: nginx passes on what it would have sent there.
    down_since = len(load.answers)
    wait_until(lambda: len(load.answers) >= down_since + DOWN_FOR_ANSWERS,
               "the load going on without the victim", 30)
    restarted = stack.start_users(VICTIM, f"users-{VICTIM}-restarted")
    stack.wait_for_replica(restarted)
    moments = {"serving_again": time.monotonic()}
    wait_until(lambda: served_count(stack, VICTIM), "nginx sending the restarted replica "
               "requests", NGINX_FAIL_TIMEOUT + 5)
    moments["proxied_again"] = time.monotonic()
    wait_until(lambda: served_count(stack, VICTIM) >= 10,
               "the restarted replica serving the load", 10)
    return moments


def assert_held_requests(seen, seed):
    """Assert where the held requests waited, and what each was answered; return the
    usernames of the POSTs nginx cut off at the victim."""
    # Placed: every replica held one request of each round, visible to PostgreSQL.
    at_the_lock = seen["at_the_lock"]
    assert seen["sockets"] == {address: len(HELD_ROUNDS) for address in REPLICA_ADDRESSES}
    assert {address: [method for method, _ in requests] for address, requests in
            at_the_lock.items()} == {address: sorted(HELD_ROUNDS) for address in
                                     REPLICA_ADDRESSES}, at_the_lock
    held_posts = {f"{HELD}-{number}-{slot}" for number, method in enumerate(HELD_ROUNDS)
                  if method == "POST" for slot in range(len(REPLICA_ADDRESSES))}
    assert {username for requests in at_the_lock.values() for method, username in requests
            if method == "POST"} == held_posts
    cut_off = {username for method, username in at_the_lock[VICTIM] if method == "POST"}
    assert len(cut_off) == HELD_ROUNDS.count("POST")
    # Killed: the victim's transactions still wait (PostgreSQL has not noticed their
    # client gone), and its GET waits at another replica.
    after_the_kill = seen["after_the_kill"]
    assert after_the_kill[VICTIM] == at_the_lock[VICTIM]
    survivors = [address for address in REPLICA_ADDRESSES if address != VICTIM]
    assert sorted(held for address in survivors for held in after_the_kill[address]) == (
        sorted([("GET", "")] + [held for address in survivors for held in at_the_lock[address]]))
    # nginx cut off exactly the victim's POSTs (its JSend 502), before the lock went.
    assert seen["answered_before_the_kill"] == {}
    under_the_lock = seen["answered_under_the_lock"]
    assert {name: (answer.status, answer.json) for name, answer in under_the_lock.items()} == {
        username: (502, NGINX_UNAVAILABLE) for username in cut_off}
    # Released: every other held request got its answer, each GET the seeded user.
    assert {name: (answer.status, answer.json) for name, answer in seen["answers"].items()} == {
        name: ((502, NGINX_UNAVAILABLE) if name in cut_off else
               (201, {"status": "success", "message": f"{name}@fleet.example was added!"})
               if name in held_posts else (200, {"status": "success", "data": seed}))
        for name in [f"{HELD}-{number}-{slot}" for number in range(len(HELD_ROUNDS))
                     for slot in range(len(REPLICA_ADDRESSES))]}
    return cut_off


def assert_cut_off_by_nginx(errors):
    """Assert nginx's errors under the lock: one cut-off request for each held at the
    victim; return their count by method."""
    assert len(errors) == len(HELD_ROUNDS), "\n".join(errors)
    assert all(f'upstream: "http://{VICTIM}:' in line and
               ("prematurely closed" in line or "reset by" in line) for line in errors), errors
    cut = {"GET": sum('request: "GET ' in line for line in errors),
           "POST": sum('request: "POST ' in line for line in errors)}
    assert cut == {"GET": HELD_ROUNDS.count("GET"), "POST": HELD_ROUNDS.count("POST")}
    return cut


def test_a_replica_killed_mid_load_costs_no_get_and_no_acknowledged_post(stack, measured):
    """Ensure a replica killed under load costs no GET, loses no 201, writes nothing twice."""
    assert request_json(stack.base_url + "/users", "POST", {
        "username": "fleet-seed", "email": "fleet-seed@fleet.example"})[0] == 201
    seed = {"id": stack.user_id("fleet-seed"), "active": True, "username": "fleet-seed",
            "email": "fleet-seed@fleet.example"}
    read_path = f"/users/{seed['id']}"
    served = served_counts(stack)
    with Load([stack.base_url], read_path, readers=3, writers=12, prefix="kill-warm") as warm_load:
        wait_until(lambda: all(count >= served[address] + 10
                               for address, count in served_counts(stack).items()),
                   lambda: f"every replica serving the load (before: {served}, now: "
                   f"{served_counts(stack)})", 30)
    # Nothing in flight: the held requests are the only ones nginx places.
    wait_until(lambda: not any(sockets_from_nginx(stack).values()),
               lambda: f"the load's connections closing ({sockets_from_nginx(stack)})", 10)
    errors_before = len(nginx_errors(stack))
    seen = hold_requests_and_kill_the_victim(stack, read_path)
    with Load([stack.base_url], read_path, readers=3, writers=12,
              prefix="kill-after") as after_load:
        moments = restart_the_victim(stack, after_load)

    cut_off = assert_held_requests(seen, seed)
    errors = seen["errors_under_the_lock"][errors_before:]
    cut = assert_cut_off_by_nginx(errors)
    # The load before and after: every request answered 200 or 201.
    loads = warm_load.answers + after_load.answers
    assert not [answer.error for answer in loads if answer.error]
    assert set(statuses(loads)) <= {200, 201}, statuses(loads)
    answers = loads + list(seen["answers"].values())
    gets = [answer for answer in answers if answer.method == "GET"]
    assert statuses(gets) == {200: len(gets)}
    assert all(answer.json["data"] == seed for answer in gets)
    # The victim's transactions committed once the lock went: each cut-off POST is
    # stored once, and sent again it is the course's duplicate.
    retried = {}
    for username in sorted(cut_off):
        status, body = request_json(stack.base_url + "/users", "POST", new_user(username))
        assert (status, body) == (400, {"status": "fail",
                                        "message": "Sorry. That email already exists."})
        retried[status] = retried.get(status, 0) + 1
    rows = dict(stack.cluster.query(
        "SELECT username, count(*) FROM users WHERE username LIKE 'kill-%' GROUP BY username",
        database="users_prod"))
    assert set(rows.values()) == {"1"}
    acknowledged = {answer.username for answer in answers if answer.status == 201}
    assert set(rows) == acknowledged | cut_off
    refused = [line for line in nginx_errors(stack)[errors_before + len(errors):]
               if f'upstream: "http://{VICTIM}:' in line and "Connection refused" in line]
    posts = [answer for answer in answers if answer.method == "POST"]
    measured.update(
        nginx_cut_off=cut, nginx_refused=len(refused),
        seconds=round(after_load.ended - warm_load.started, 1),
        answers=len(answers),
        warm=statuses(warm_load.answers), gets=statuses(gets), posts=statuses(posts),
        in_flight_at_victim=len(seen["at_the_lock"][VICTIM]), retries_of_502=retried,
        rows=len(rows), seconds_the_lock_was_held=round(seen["seconds_held"], 2),
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
def test_nginx_forwards_only_its_own_headers(conf, compose, tmp_path_factory):
    """Ensure the users service sees nginx's forwarded headers, never a client's."""
    environment = ProdServices(compose).environment("nginx") if conf == "prod.conf" else None
    echo, client = serve(HeaderEcho), serve(ClientStandIn)
    processes = Processes(tmp_path_factory.mktemp("echo-logs"))
    work_dir = scratch_dir("stack-nginx-echo-")
    try:
        base_url = start_nginx(processes, work_dir, {
            "users": f"127.0.0.1:{echo.server_port}",
            "client": f"127.0.0.1:{client.server_port}"}, conf, environment)
        spoofed = {"Host": "users.example.com:8080",
                   "X-Forwarded-For": "203.0.113.7", "X-Real-IP": "203.0.113.8",
                   "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example",
                   "X-Forwarded-Port": "8443", "X-Forwarded-Prefix": "/evil",
                   "X-Request-ID": "not an id"}
        assert request(base_url + "/users/ping", headers=spoofed).status == 200
        (_, path, headers), = echo.seen
        forwarded = {name: value for name, value in headers.items()
                     if name.lower().startswith("x-") or name.lower() == "host"}
        # A malformed request ID is replaced by nginx's own.
        assert re.fullmatch("[0-9a-f]{32}", forwarded.pop("X-Request-ID", "")), forwarded
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
