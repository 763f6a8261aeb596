"""Real resources for the unit tests, on the shared harness (services/users/harness):
scratch PostgreSQL databases, CLI runs, a served app, config built in a child."""

import contextlib
import json
import os
import subprocess
import sys
import tempfile

from sqlalchemy.engine import make_url

from harness import postgres
from harness.servers import Gunicorn
from project import create_app
from project.commands import MANAGE_PY, USERS_DIR
from project.tests.base import test_database_url

CLEAN_ENV_NAMES = ("APP_SETTINGS", "DATABASE_URL", "SECRET_KEY", "FLASK_APP",
                   "COVERAGE_PROCESS_START", "FLASK_DEBUG")
# The service's other variables: `config_in_child` starts its child without them too.
SETTING_ENV_NAMES = ("DATABASE_TEST_URL", "DATABASE_FAST_PATH", "DATABASE_STATEMENT_TIMEOUT",
                     "DATABASE_CONNECT_TIMEOUT", "GUNICORN_THREADS", "DATABASE_POOL_SIZE",
                     "DATABASE_MAX_OVERFLOW", "DATABASE_POOL_TIMEOUT", "CORS_ORIGINS",
                     "TRUSTED_PROXY_HOPS", "METRICS", "METRICS_PORT", "PROMETHEUS_MULTIPROC_DIR",
                     "LOG_FORMAT", "LOG_LEVEL")


def scratch_database(suffix):
    """Return a context manager: the URL of a new, empty PostgreSQL database beside the
    test one, dropped at the end."""
    url = make_url(test_database_url())
    name = f"{url.database}_{suffix}"
    return postgres.scratch_database(url.set(database=name).render_as_string(hide_password=False))


def migrated_scratch_database(test_class, suffix):
    """Give `test_class` a scratch database (`scratch_database`) for its tests, upgraded
    to the head revision by `manage.py db upgrade`; return its URL."""
    url = test_class.enterClassContext(scratch_database(suffix))
    migrated = run_manage("db", "upgrade", env=child_env(DATABASE_URL=url))
    if migrated.returncode != 0:
        raise RuntimeError("db upgrade failed: " + migrated.stderr)
    return url


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


@contextlib.contextmanager
def served_app(database_url, workers=2, timeout=30):
    """Serve the service under gunicorn as production does (harness.servers); yield its
    base URL."""
    with tempfile.TemporaryDirectory(prefix="served-app-") as log_dir:
        server = Gunicorn(database_url, log_dir, workers=workers)
        try:
            yield server.start(timeout).base_url
        finally:
            server.stop(timeout)


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
