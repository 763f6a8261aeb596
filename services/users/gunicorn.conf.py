"""Gunicorn settings for the users service: `gunicorn --config gunicorn.conf.py manage:app`.

Command-line flags and GUNICORN_CMD_ARGS override these (the stack test binds to loopback
that way). With METRICS on (the default), the master serves every worker's metrics on
METRICS_PORT (`project.metrics_exporter`), from PROMETHEUS_MULTIPROC_DIR, which it
wipes at start.
"""

import glob
import os
import sys

from gunicorn.glogging import Logger
from gunicorn.util import parse_address
from pythonjsonlogger.json import JsonFormatter

bind = "0.0.0.0:5000"
# Two workers suit a small container; set WEB_CONCURRENCY to scale with its CPUs.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let a worker run one request while another waits on PostgreSQL: with sync
# workers, two commits at a time were the most the service could make. Each thread
# gets one pooled connection (project.settings sizes the pool from this variable too).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The master restarts a worker whose main loop (its heartbeat) is silent this long. A
# gthread worker's loop beats while its request threads wait, so this never ends a stuck
# request: the database-side bounds do (docs/reliability.md, "Faults").
timeout = 30
# On SIGTERM, requests in flight get this long to finish (compose waits 30 s).
graceful_timeout = 20
# The app writes an access line for every request itself (project.observability), with
# its request ID and route; gunicorn's own would be a second, without them.
accesslog = None
errorlog = "-"
# The longest request line gunicorn takes (its maximum; its default is 4094): what nginx
# passes on (8 KB buffers), so that a long query reaches the app's JSend 400 instead of
# gunicorn's HTML 414.
limit_request_line = 8190
# The worker heartbeat file in memory: a container's disk-backed /tmp can stall workers.
worker_tmp_dir = "/dev/shm"
# The control socket would live under $HOME, which the production user does not have.
control_socket_disable = True


# The port the master serves the metrics on, at the address the service binds to.
DEFAULT_METRICS_PORT = "9101"


class JsonLinesLogger(Logger):
    """gunicorn's own lines (a worker booting, timed out, exiting) in the app's JSON shape,
    unless LOG_FORMAT is text.

    The formatter is `project.logs.formatter("json")`'s, built here: the master sets up
    its logger before `on_starting`, and importing the app then would open the metrics
    files before their directory is wiped.
    """

    def setup(self, cfg):
        super().setup(cfg)
        if os.environ.get("LOG_FORMAT", "json").strip().lower() == "json":
            for handler in self.error_log.handlers:
                handler.setFormatter(JsonFormatter(
                    "{levelname}{name}{message}", style="{", timestamp="time",
                    rename_fields={"levelname": "level", "name": "logger"}))


logger_class = JsonLinesLogger


def on_starting(server):
    """Wipe the metrics directory, then check the settings once, in the master, before
    any worker starts.

    A worker that stops on a bad setting is only started again by gunicorn, for ever;
    the master stopping here ends gunicorn with the one-line error manage.py gives. The
    app built here is thrown away: each worker builds its own from manage:app.
    """
    # Before the app is imported: prometheus_client opens its files there on import.
    wipe_metrics_directory(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    try:
        from project import create_app
        from project.metrics_exporter import MetricsExporter
        from project.settings import SettingError, whole_number
    except ModuleNotFoundError as missing:
        if missing.name != "project":
            raise
        return  # another app served with these settings: the benchmark's floors
    try:
        app = create_app()
        if app.config.get("METRICS"):  # an older tree (bench --tree) has none
            directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            if not directory:
                raise SettingError("PROMETHEUS_MULTIPROC_DIR must name a directory for the "
                                   "workers' metrics under gunicorn (or set METRICS=off).")
            # On the arbiter, which outlives a reload of this file (SIGHUP).
            server.metrics_exporter = MetricsExporter(directory)
            server.metrics_port = whole_number(
                "METRICS_PORT", os.environ.get("METRICS_PORT", DEFAULT_METRICS_PORT))
    except SettingError as error:
        sys.exit(f"Error: {error}")


def wipe_metrics_directory(directory):
    """Start with an empty PROMETHEUS_MULTIPROC_DIR (made if missing): the last run's
    files would count again."""
    if directory:
        os.makedirs(directory, exist_ok=True)
        for path in glob.glob(os.path.join(directory, "*.db")):
            os.remove(path)


def when_ready(server):
    """Serve the metrics from the master, on the service's address and METRICS_PORT."""
    exporter = getattr(server, "metrics_exporter", None)
    if exporter is None:
        return
    address = parse_address(server.cfg.bind[0])
    host = address[0] if isinstance(address, tuple) else "127.0.0.1"
    try:
        exporter.serve(host, server.metrics_port)
    except OSError as error:
        sys.exit(f"Error: METRICS_PORT {server.metrics_port} cannot be served: "
                 f"{error.strerror}.")


def child_exit(server, worker):
    """Keep what an exited worker counted; remove its metrics files."""
    exporter = getattr(server, "metrics_exporter", None)
    if exporter is not None:
        exporter.worker_exited(worker.pid)
