"""The service served on loopback as production serves it, and the base of such servers.

One launcher: gunicorn with the service's gunicorn.conf.py, `manage:app` on
ProductionConfig, in the environment of whoever runs the tests minus the service's own
settings. Its base, Server, starts any server of the service's routes (the benchmark's
granian too) on a free port with its own log, waits until /users/ping answers and every
worker runs, and stops it with bounded waits.
"""

import os
import subprocess
import sys
from pathlib import Path

from harness.http import request
from harness.ports import free_port
from harness.processes import Processes, child_pids, cpu_seconds, memory
from harness.waiting import wait_until

USERS_DIR = Path(__file__).resolve().parents[1]
GUNICORN_CONF = USERS_DIR / "gunicorn.conf.py"
# The service's settings, which must come from the test, never from whoever runs it.
SERVICE_VARIABLES = ("APP_SETTINGS", "DATABASE_URL", "DATABASE_TEST_URL", "SECRET_KEY",
                     "FLASK_APP", "FLASK_DEBUG", "COVERAGE_PROCESS_START", "CORS_ORIGINS",
                     "WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "METRICS", "METRICS_PORT",
                     "PROMETHEUS_MULTIPROC_DIR", "LOG_FORMAT", "LOG_LEVEL")


def service_env(database_url, **overrides):
    """Return this process's environment without the service's settings, then
    ProductionConfig on `database_url`, then `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env.update(APP_SETTINGS="project.config.ProductionConfig", DATABASE_URL=database_url,
               SECRET_KEY="harness-secret", PYTHONUNBUFFERED="1")
    env.update(overrides)
    return env


def migrate(database_url, revision="head", python=sys.executable, timeout=120, **environment):
    """Run the service's own `db upgrade REVISION`; fail with its output if it fails.

    `environment` is added to the service's (`DATABASE_STATEMENT_TIMEOUT="1000"`).
    """
    result = subprocess.run([python, "manage.py", "db", "upgrade", revision], cwd=USERS_DIR,
                            env=service_env(database_url, **environment),
                            capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"db upgrade {revision} exited {result.returncode}:\n"
                           f"{result.stderr}")
    return result


class Server:
    """A server of the service's routes on a free loopback port, logging to
    `log_dir`/`name`.log; `command()` says how to start it."""

    def __init__(self, name, log_dir, chdir, env):
        self.name = name
        self.chdir = chdir
        self.env = env
        self.processes = Processes(log_dir)
        self.log_path = self.processes.log_dir / f"{name}.log"
        self.port = free_port()
        self.process = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def command(self):
        raise NotImplementedError

    def expected_workers(self):
        """How many workers it starts, when the command says so."""
        return None

    def start(self, timeout=60):
        """Start the server; return it once it answers /users/ping with every worker up."""
        self.process = self.processes.start(self.name, self.command(), cwd=self.chdir,
                                            env=self.env)
        wait_until(self.answers_ping, f"{self.name} answering /users/ping", timeout,
                   self.process)
        workers = self.expected_workers()
        if workers:
            wait_until(lambda: len(self.worker_pids()) == workers,
                       f"every {self.name} worker started", timeout, self.process)
        return self

    def answers_ping(self):
        return request(self.base_url + "/users/ping", timeout=2).status == 200

    def worker_pids(self):
        return child_pids(self.process.pid) if self.process else []

    def worker_memory(self):
        """Return {worker pid: (resident size, peak resident size)} in bytes."""
        found = {pid: memory(pid) for pid in self.worker_pids()}
        return {pid: sizes for pid, sizes in found.items() if sizes}

    def cpu_seconds(self):
        """Return the CPU time all workers have used so far."""
        return sum(cpu_seconds(pid) for pid in self.worker_pids())

    def stop(self, timeout=45):
        """SIGTERM (a graceful shutdown), killing the process group if it hangs; return the
        exit status."""
        if self.process is None:
            return None
        return Processes.stop(self.process, timeout=timeout)

    def log_text(self):
        return self.log_path.read_text(errors="replace")


class Gunicorn(Server):
    """`app` (the service's `manage:app` by default) under gunicorn with the service's
    gunicorn.conf.py, on ProductionConfig and `database_url`.

    `workers` (else the config's), then `extra_args`, override the config; `environment`
    adds to the service's. The master serves the metrics on a free port of its own
    (`metrics_url`), from a directory of its own in `log_dir`.
    """

    def __init__(self, database_url, log_dir, name="gunicorn", workers=None, extra_args=(),
                 app="manage:app", chdir=USERS_DIR, python=sys.executable, **environment):
        self.metrics_port = free_port()
        log_dir = Path(log_dir)
        metrics = {"METRICS_PORT": str(self.metrics_port),
                   "PROMETHEUS_MULTIPROC_DIR": str(log_dir / f"{name}-metrics")}
        super().__init__(name, log_dir, chdir,
                         service_env(database_url, **{**metrics, **environment}))
        self.metrics_dir = Path(self.env["PROMETHEUS_MULTIPROC_DIR"])
        # Made now: `--print-config` imports the app, whose metrics open their files there.
        if self.env["PROMETHEUS_MULTIPROC_DIR"]:
            self.metrics_dir.mkdir(parents=True, exist_ok=True)
        self.app = app
        self.python = python
        self.arguments = [*(["--workers", str(workers)] if workers else []), *extra_args]

    @property
    def metrics_url(self):
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def command(self, *extra):
        return [self.python, "-m", "gunicorn", "--config", str(GUNICORN_CONF),
                "--chdir", str(self.chdir), "--bind", f"127.0.0.1:{self.port}",
                *self.arguments, *extra, self.app]

    def expected_workers(self):
        # The last --workers wins, as in gunicorn's own parsing.
        values = [value for flag, value in zip(self.arguments, self.arguments[1:])
                  if flag == "--workers"]
        return int(values[-1]) if values else None
