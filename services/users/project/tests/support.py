"""Real resources for tests: scratch PostgreSQL databases, CLI runs, a served app."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from project import create_app
from project.commands import MANAGE_PY, USERS_DIR
from project.tests.base import test_database_url

CLEAN_ENV_NAMES = ("APP_SETTINGS", "DATABASE_URL", "SECRET_KEY", "FLASK_APP",
                   "COVERAGE_PROCESS_START", "FLASK_DEBUG")
# The service's other variables: `config_in_child` starts its child without them too.
SETTING_ENV_NAMES = ("DATABASE_TEST_URL", "DATABASE_FAST_PATH", "DATABASE_STATEMENT_TIMEOUT",
                     "DATABASE_CONNECT_TIMEOUT", "GUNICORN_THREADS", "DATABASE_POOL_SIZE",
                     "DATABASE_MAX_OVERFLOW", "DATABASE_POOL_TIMEOUT", "CORS_ORIGINS",
                     "TRUSTED_PROXY_HOPS")


@contextlib.contextmanager
def scratch_database(suffix):
    """Yield the URL of a new, empty PostgreSQL database beside the test one."""
    url = make_url(test_database_url())
    name = f"{url.database}_{suffix}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    drop = text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    with admin.connect() as connection:
        connection.execute(drop)
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(drop)
        admin.dispose()


def child_env(**overrides):
    """Return this process's environment without the app's settings, plus overrides."""
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV_NAMES}
    env.update(overrides)
    return env


def run_manage(*args, env=None, cwd=USERS_DIR, stdin=None, timeout=120):
    """Run `python manage.py ARGS` and return the finished process (text output)."""
    return subprocess.run(
        [sys.executable, MANAGE_PY, *args], env=env or child_env(), cwd=cwd,
        input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
    )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def served_app(database_url, workers=2, timeout=30):
    """Serve `manage:app` under gunicorn with ProductionConfig; yield its base URL."""
    port = free_port()
    env = child_env(APP_SETTINGS="project.config.ProductionConfig",
                    DATABASE_URL=database_url, SECRET_KEY="served-test-secret")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "manage:app"],
        cwd=USERS_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(base_url, server, timeout)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()


def wait_until_up(base_url, server, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn exited: " + server.stderr.read().decode())
        try:
            with urllib.request.urlopen(base_url + "/users/ping", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout} s")


def http(method, url, body=None, content_type="application/json", timeout=30):
    """Send a real HTTP request; return (status, parsed JSON or None, headers)."""
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method)
    if content_type and data is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, read_json(response), response.headers
    except urllib.error.HTTPError as error:
        with error:
            return error.code, read_json(error), error.headers


def read_json(response):
    raw = response.read()
    if response.headers.get_content_type() != "application/json":
        return None
    return json.loads(raw)


def app_with(config_class, **settings):
    """Build an app from `config_class` with `settings` over what the environment gave it."""
    return create_app(type(config_class.__name__, (config_class,), settings))


# Prints the app's config as JSON, the values it can encode.
PRINT_CONFIG = """
import json, sys
from project import create_app
config = create_app(sys.argv[1]).config
print(json.dumps({key: value for key, value in config.items()
                  if isinstance(value, (str, int, bool, list, type(None)))}))
"""


def config_in_child(settings, **environment):
    """Build the app named by `settings` in a new process with `environment`; return its config."""
    env = {k: v for k, v in child_env(**environment).items()
           if k not in SETTING_ENV_NAMES or k in environment}
    result = subprocess.run([sys.executable, "-c", PRINT_CONFIG, settings], cwd=USERS_DIR,
                            env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)
