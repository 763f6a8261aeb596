"""Real resources for the reliability suite: a private PostgreSQL, gunicorn, HTTP on loopback.

Everything here starts real processes and stops them again, with bounded waits. The private
PostgreSQL is ours alone: the tests stop and kill it, which the machine's main cluster
(shared with other test runs) must never suffer.
"""

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import psutil
import psycopg2

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
USERS_DIR = os.path.join(REPO, "services", "users")
ARTIFACTS = os.path.join(REPO, ".ci", "artifacts", "reliability")
# The service runs on its own pinned runtime (`make install`), not on the test tools' venv.
APP_PYTHON = os.environ.get("RELIABILITY_APP_PYTHON", os.path.join(REPO, ".venv", "bin", "python"))
PG_BIN = os.environ.get("RELIABILITY_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
# The environment the service must not inherit from whoever runs the tests.
APP_VARIABLES = ("APP_SETTINGS", "DATABASE_URL", "DATABASE_TEST_URL", "SECRET_KEY", "FLASK_APP",
                 "FLASK_DEBUG", "CORS_ORIGINS", "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, timeout, interval=0.1, what="condition"):
    """Poll `condition` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not met within {timeout} s")
        time.sleep(interval)


def artifact_path(name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    return os.path.join(ARTIFACTS, name)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in a temporary folder, on a free loopback port."""

    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="reliability-pg-")
        shutil.chown(self.root, PG_USER)
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "postgres.log")
        self.port = free_port()
        self.initialised = False

    def as_postgres(self, *command, timeout=60):
        return subprocess.run(["runuser", "-u", PG_USER, "--", *command], check=True,
                              capture_output=True, text=True, timeout=timeout)

    def pg_ctl(self, *args, timeout=60):
        return self.as_postgres(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, *args,
                                timeout=timeout)

    def init(self):
        self.as_postgres(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", PG_USER,
                         "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", timeout=120)
        self.initialised = True

    def start(self):
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.root} -c max_connections=200")
        self.pg_ctl("-l", self.log, "-o", options, "-w", "-t", "60", "start", timeout=90)

    def stop(self, mode="fast"):
        self.pg_ctl("-m", mode, "-w", "-t", "60", "stop", timeout=90)

    def is_running(self):
        if not self.initialised:
            return False
        status = subprocess.run(["runuser", "-u", PG_USER, "--", os.path.join(PG_BIN, "pg_ctl"),
                                 "-D", self.data, "status"], capture_output=True, timeout=30)
        return status.returncode == 0

    def url(self, database):
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database="postgres", **options):
        return psycopg2.connect(host="127.0.0.1", port=self.port, user=PG_USER,
                                dbname=database, connect_timeout=5, **options)

    def create_database(self, name):
        with contextlib.closing(self.connect()) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                cursor.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def destroy(self):
        try:
            if self.is_running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def app_environment(database_url, **overrides):
    env = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
    env.update(APP_SETTINGS="project.config.ProductionConfig", DATABASE_URL=database_url,
               SECRET_KEY="reliability-secret", PYTHONUNBUFFERED="1")
    env.update(overrides)
    return env


def migrate(database_url, revision="head", timeout=120, **environment):
    """Run the service's own `db upgrade REVISION`; fail with its output if it fails.

    `environment` is added to the service's (`DATABASE_STATEMENT_TIMEOUT="1000"`).
    """
    result = subprocess.run([APP_PYTHON, "manage.py", "db", "upgrade", revision],
                            cwd=USERS_DIR, env=app_environment(database_url, **environment),
                            capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"db upgrade {revision} exited {result.returncode}:\n"
                           f"{result.stderr}")
    return result


def migration_history():
    """Return the revision ids from the first to the head, as alembic reads the scripts."""
    script = ("import json; from alembic.script import ScriptDirectory; "
              "scripts = ScriptDirectory('migrations'); "
              "print(json.dumps([s.revision for s in scripts.walk_revisions('base', 'heads')]))")
    result = subprocess.run([APP_PYTHON, "-c", script], cwd=USERS_DIR, check=True,
                            capture_output=True, text=True, timeout=60)
    return list(reversed(json.loads(result.stdout)))


def upgrade_lock_constants():
    """Return the migrations' advisory lock key and their sessions' application_name."""
    script = ("import json; from project.upgrade_lock import APPLICATION_NAME, LOCK_KEY; "
              "print(json.dumps([LOCK_KEY, APPLICATION_NAME]))")
    result = subprocess.run([APP_PYTHON, "-c", script], cwd=USERS_DIR, check=True,
                            capture_output=True, text=True, timeout=60)
    return tuple(json.loads(result.stdout))


class Gunicorn:
    """`manage:app` under gunicorn, as production starts it, bound to a loopback port."""

    def __init__(self, database_url, name, workers=2, extra_args=(), **environment):
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = artifact_path(f"gunicorn-{name}.log")
        command = [APP_PYTHON, "-m", "gunicorn"]
        if os.path.exists(os.path.join(USERS_DIR, "gunicorn.conf.py")):
            command += ["--config", "gunicorn.conf.py"]
        command += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                    *extra_args, "manage:app"]
        self.command = command
        self.env = app_environment(database_url, **environment)
        self.process = None
        self.log_file = None

    def start(self, timeout=60):
        self.log_file = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command, cwd=USERS_DIR, env=self.env,
                                        stdout=self.log_file, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        wait_for(self.answers_ping, timeout, 0.2, "gunicorn answering /users/ping")
        wait_for(lambda: len(self.worker_pids()) == self.expected_workers(), timeout, 0.2,
                 "every gunicorn worker started")
        return self

    def expected_workers(self):
        return int(self.command[self.command.index("--workers") + 1])

    def answers_ping(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}: see "
                               f"{self.log_path}")
        try:
            return request("GET", self.base_url + "/users/ping", timeout=2).status == 200
        except OSError:
            return False

    def worker_pids(self):
        try:
            return sorted(child.pid for child in psutil.Process(self.process.pid).children())
        except psutil.NoSuchProcess:
            return []

    def worker_rss(self):
        """Return {pid: resident set size in bytes} for every worker."""
        sizes = {}
        for pid in self.worker_pids():
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes[pid] = psutil.Process(pid).memory_info().rss
        return sizes

    def terminate(self, timeout=45):
        """SIGTERM (gunicorn's graceful shutdown); return the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            raise

    def stop(self):
        try:
            self.terminate()
        finally:
            if self.log_file:
                self.log_file.close()

    def log_text(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as log:
            return log.read()


class Response:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed

    def json(self):
        return json.loads(self.body)


def request(method, url, body=None, content_type="application/json", timeout=30, headers=None):
    """Send one HTTP request on a new connection; socket errors propagate as OSError."""
    without_scheme = url.split("://", 1)[1]
    host_port, _, path = without_scheme.partition("/")
    host, port = host_port.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    sent = dict(headers or {})
    if body is not None:
        body = body.encode() if isinstance(body, str) else body
        sent["Content-Type"] = content_type
    started = time.monotonic()
    try:
        connection.request(method, "/" + path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        return Response(response.status, response.headers, data, time.monotonic() - started)
    finally:
        connection.close()


def post_user(base_url, username, email, timeout=30):
    return request("POST", base_url + "/users",
                   json.dumps({"username": username, "email": email}), timeout=timeout)


def seed_users(postgres, database, count):
    """Insert users `seed<n>` (`seed<n>@mherman.org`), n = 1..count, into a fresh table."""
    with contextlib.closing(postgres.connect(database)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("insert into users (username, email) select 'seed' || n, "
                           "'seed' || n || '@mherman.org' from generate_series(1, %s) n",
                           (count,))
        connection.commit()


def stored_users(postgres, database):
    """Return every (username, email) row of the users table, read directly."""
    with contextlib.closing(postgres.connect(database)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("select username, email from users order by id")
            return [tuple(row) for row in cursor.fetchall()]
