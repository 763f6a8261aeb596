"""Gunicorn settings for the users service: `gunicorn --config gunicorn.conf.py manage:app`.

Command-line flags and GUNICORN_CMD_ARGS override these (the stack test binds to loopback
that way).
"""

import os
import sys

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
accesslog = "-"
errorlog = "-"
# The worker heartbeat file in memory: a container's disk-backed /tmp can stall workers.
worker_tmp_dir = "/dev/shm"
# The control socket would live under $HOME, which the production user does not have.
control_socket_disable = True


def on_starting(server):
    """Check the settings once, in the master, before any worker starts.

    A worker that stops on a bad setting is only started again by gunicorn, for ever;
    the master stopping here ends gunicorn with the one-line error manage.py gives. The
    app built here is thrown away: each worker builds its own from manage:app.
    """
    try:
        from project import create_app
        from project.settings import SettingError
    except ModuleNotFoundError as missing:
        if missing.name != "project":
            raise
        return  # another app served with these settings: the benchmark's floors
    try:
        create_app()
    except SettingError as error:
        sys.exit(f"Error: {error}")
