"""What docker-compose-prod.yml runs, run as processes on loopback, then real HTTP.

- users-db: a fresh PostgreSQL cluster of our own (never the shared server's databases),
  initialised the way the postgres image does it: create.sql runs while the server
  listens on its socket only, then the server opens TCP. The password is the one
  compose hands the image.
- users: entrypoint-prod.sh, with the environment compose resolves for the service
  (the database host mapped to loopback), as the image's numeric non-root user; it waits
  for the database, migrates, and execs gunicorn with the committed config.
- client: a stand-in that answers every path with a marker, so what reaches it is known.
- nginx: a copy of prod.conf whose upstream hosts point at loopback and whose listen line
  moves to loopback (port 80 when it is free); nothing else changed.
"""

import http.client
import json
import os
import re
import shutil
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import (APP_BIN, IS_ROOT, NGINX_DIR, USERS_DIR, Processes, as_user, free_port,
                      nginx_command, port_is_free, run, scratch_dir, shown, wait_until,
                      write_nginx_conf)
from local_conf import localise

PROD_ENV = {"SECRET_KEY": "stack-test-secret", "POSTGRES_PASSWORD": "stack-test-password"}
# The production image's user (Dockerfile-prod): numeric, no home directory.
APP_UID = "10001"
USER = {"username": "michael", "email": "michael@mherman.org"}
STORED = {"id": 1, "active": True, **USER}
BODY_LIMIT = 64 * 1024
MIGRATIONS = USERS_DIR / "migrations" / "versions"


def pg_bin(name):
    """Return the newest installed PostgreSQL server program `name`."""
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda path: int(path.parts[-3]))
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return str(found)


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


def request(url, method="GET", body=None, headers=None):
    """Send one HTTP request; return (status, headers, body bytes)."""
    target = http.client.urlsplit(url)
    connection = http.client.HTTPConnection(target.hostname, target.port, timeout=15)
    try:
        path = target.path + (f"?{target.query}" if target.query else "")
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def request_json(url, method="GET", payload=None, body=None):
    if payload is not None:
        body = json.dumps(payload).encode()
    status, headers, data = request(url, method, body, {"Content-Type": "application/json"})
    assert headers.get_content_type() == "application/json", (status, data)
    return status, json.loads(data)


class Cluster:
    """A PostgreSQL cluster in a scratch directory, as the postgres image runs one."""

    def __init__(self, superuser, password):
        self.superuser = superuser
        self.root = scratch_dir("stack-postgres-", owner="postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.password = password

    def as_postgres(self, *command):
        return as_user("postgres", command)

    def pg(self, *command):
        result = run(self.as_postgres(*command), cwd=self.root)
        assert result.returncode == 0, shown(result)
        return result

    def initdb(self):
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if IS_ROOT:
            shutil.chown(password_file, "postgres", "postgres")
        # The image's defaults: trust on the socket, passwords (SCRAM) over TCP.
        self.pg(pg_bin("initdb"), "-D", str(self.data), "-U", self.superuser,
                f"--pwfile={password_file}", "--auth-local=trust",
                "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8",
                "--no-sync")
        password_file.unlink()

    def start(self, tcp):
        """Start the server: on its socket only (the image's init phase) or on TCP too."""
        listen = "127.0.0.1" if tcp else "''"
        options = f"-c listen_addresses={listen} -k {self.root} -p {self.port} -c fsync=off"
        self.pg(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                "-w", "-t", "60", "-o", options, "start")

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            self.pg(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60",
                    "stop")

    def psql(self, *args, database="postgres"):
        """Run psql over the socket, as the image's init scripts do."""
        return self.pg("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                       "-h", str(self.root), "-p", str(self.port), "-U", self.superuser,
                       "-d", database, *args).stdout

    def tcp_ready(self):
        """Return pg_isready -h's exit code, as the compose healthcheck runs it."""
        return run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port),
                    "-U", self.superuser]).returncode

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


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
    wait_until(lambda: request(base_url + "/")[0] == 200, "nginx answering", 30, process)
    return base_url


class Stack:
    def __init__(self, compose, log_dir):
        config = compose.resolved("docker-compose-prod.yml", env=PROD_ENV)
        self.users_env = config["services"]["users"]["environment"]
        database_env = config["services"]["users-db"]["environment"]
        self.processes = Processes(log_dir)
        self.cluster = Cluster(database_env["POSTGRES_USER"], database_env["POSTGRES_PASSWORD"])
        self.users_port = free_port()
        self.users = None
        self.client = serve(ClientStandIn)
        self.nginx_dir = scratch_dir("stack-nginx-")
        self.base_url = None

    def entrypoint_env(self):
        """The service's compose environment, its database host mapped to our cluster."""
        env = dict(self.users_env)
        url = env["DATABASE_URL"]
        assert url.count("@users-db:5432/") == 1, url
        env["DATABASE_URL"] = url.replace("@users-db:5432/", f"@127.0.0.1:{self.cluster.port}/")
        # What the image's environment adds: the venv's programs, no home, no bytecode.
        env.update(PATH=f"{APP_BIN}:/usr/local/bin:/usr/bin:/bin", HOME="/nonexistent",
                   PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1",
                   GUNICORN_CMD_ARGS=f"--bind 127.0.0.1:{self.users_port}")
        return env

    def start_users(self, name="users"):
        command = as_user(APP_UID, [str(USERS_DIR / "entrypoint-prod.sh")], group=APP_UID)
        self.users = self.processes.start(name, command, cwd="/", env=self.entrypoint_env())
        return self.users

    def wait_for_users(self):
        wait_until(lambda: request(self.users_url + "/users/ping")[0] == 200,
                   "the users service answering", 90, self.users)

    @property
    def users_url(self):
        return f"http://127.0.0.1:{self.users_port}"

    def start(self):
        self.cluster.initdb()
        self.cluster.start(tcp=False)
        # The image's init phase: the service is already waiting, and the healthcheck
        # (pg_isready -h) must not pass before create.sql is done.
        self.start_users()
        self.ready_during_init = self.cluster.tcp_ready()
        self.cluster.psql("-f", str(USERS_DIR / "project" / "db" / "create.sql"))
        self.cluster.stop()
        self.cluster.start(tcp=True)
        self.ready_after_init = self.cluster.tcp_ready()
        self.wait_for_users()
        hosts = {"users": f"127.0.0.1:{self.users_port}",
                 "client": f"127.0.0.1:{self.client.server_port}"}
        self.base_url = start_nginx(self.processes, self.nginx_dir, hosts)

    def stop(self):
        self.processes.stop_all()
        self.cluster.stop()
        self.client.shutdown()
        self.client.server_close()
        self.cluster.remove()
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


def test_database_healthcheck_waits_for_create_sql(stack):
    """Ensure pg_isready -h fails while create.sql runs and passes once it is done."""
    assert (stack.ready_during_init, stack.ready_after_init) == (2, 0)


def test_create_sql_makes_the_three_databases(stack):
    """Ensure create.sql made users_prod, users_dev and users_test."""
    names = stack.cluster.psql("-c", "SELECT datname FROM pg_database WHERE datname "
                               "LIKE 'users_%' ORDER BY datname").split()
    assert names == ["users_dev", "users_prod", "users_test"]


def test_entrypoint_waited_then_migrated_once(stack):
    """Ensure the entrypoint waited for the database, then ran the migrations once."""
    log = Processes.log(stack.users)
    where = f"127.0.0.1:{stack.cluster.port}/users_prod"
    assert f"Waiting up to 60 s for PostgreSQL at {where}..." in log, log
    assert "PostgreSQL is up." in log, log
    assert log.count("Running upgrade  -> 0001_create_users") == 1, log
    version = stack.cluster.psql("-c", "SELECT version_num FROM alembic_version",
                                 database="users_prod").split()
    assert version == [head_revision()]


def test_entrypoint_execs_gunicorn(stack):
    """Ensure the process the container starts becomes gunicorn, with the committed config."""
    command = Path(f"/proc/{stack.users.pid}/cmdline").read_bytes().split(b"\0")
    assert b"gunicorn" in command[1], command
    assert command[-4:-1] == [b"--config", b"gunicorn.conf.py", b"manage:app"], command
    assert Path(f"/proc/{stack.users.pid}/status").read_text().count(f"\t{APP_UID}\t") >= 1


def test_ping(stack):
    """Ensure GET /users/ping answers pong through nginx."""
    assert request_json(stack.base_url + "/users/ping") == (
        200, {"status": "success", "message": "pong!"})


def test_ready(stack):
    """Ensure GET /users/ready reports the database reachable through nginx."""
    assert request_json(stack.base_url + "/users/ready") == (
        200, {"status": "success", "message": "ready"})


def test_add_user(stack):
    """Ensure POST /users adds a user through nginx."""
    assert request_json(stack.base_url + "/users", "POST", USER) == (
        201, {"status": "success", "message": "michael@mherman.org was added!"})


def test_read_user_back(stack):
    """Ensure GET /users/1 and GET /users return the added user through nginx."""
    assert request_json(stack.base_url + "/users/1") == (
        200, {"status": "success", "data": STORED})
    assert request_json(stack.base_url + "/users") == (
        200, {"status": "success", "data": {"users": [STORED]}})


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
    status, _, body = request(stack.base_url + path)
    assert (status, body.decode()) == (200, f"client stand-in: GET {path}")


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
    from_app = request_json(stack.users_url + "/users", "POST", body=body)
    from_nginx = request_json(stack.base_url + "/users", "POST", body=body)
    assert from_app[0] == 413 and from_app[1]["status"] == "fail", from_app
    assert from_nginx == from_app
    # Only the direct request reached gunicorn (its access log line may lag the response).
    logged = '"POST /users HTTP/1.1" 413'
    wait_until(lambda: logged in Processes.log(stack.users), "the access log line", 10)
    assert Processes.log(stack.users).count(logged) == 1
    assert '"POST /users HTTP/1.0" 413' not in Processes.log(stack.users)


def test_gunicorn_ran_the_committed_config(stack):
    """Ensure gunicorn ran compose's worker count, logged access to stdout, and no error."""
    log = Processes.log(stack.users)
    assert stack.users_env["WEB_CONCURRENCY"] == "2"
    assert log.count("Booting worker with pid") == 2, log
    assert '"GET /users/ping HTTP/1.0" 200' in log, log
    assert "[ERROR]" not in log and "Traceback" not in log, log


def test_restart_keeps_the_data(stack):
    """Ensure gunicorn stops gracefully on SIGTERM and a restart keeps every user."""
    assert stack.processes.stop(stack.users, signal.SIGTERM, timeout=25) == 0
    stack.cluster.stop()
    stack.cluster.start(tcp=True)
    stack.start_users("users-restarted")
    stack.wait_for_users()
    assert request_json(stack.base_url + "/users/1") == (
        200, {"status": "success", "data": STORED})
    assert "Running upgrade" not in Processes.log(stack.users)


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
        status, _, _ = request(base_url + "/users/ping", headers=spoofed)
        assert status == 200
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
        status, _, body = request(base_url + "/usersX")
        assert (status, body.decode()) == (200, "client stand-in: GET /usersX")
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
