"""docker-compose-prod.yml's database side and users replicas, as processes on loopback.

- users-db: a scratch cluster (scratch_postgres.Cluster), first started as the postgres
  image does: create.sql, then roles.sh with the environment compose resolves for
  users-db, while the server listens on its socket only; then on TCP.
- users-migrate: the one-shot's compose command and environment (users-db mapped to the
  cluster), as the image's numeric user, from the image's working directory. It is
  started during the database's init phase, earlier than compose would, so its bounded
  wait is shown too; nothing else starts before it has exited.
- pgbouncer: Debian's pgbouncer, started by services/pgbouncer/entrypoint.sh itself as
  the postgres user (the image's user), with compose's environment, in a private mount
  namespace whose /run and /etc/pgbouncer are scratch directories: the script writes
  the auth file where it always does, and PgBouncer reads a loopback copy of the
  committed pgbouncer.ini (local_pgbouncer.py) where the image puts the original.
- users: entrypoint-prod.sh with compose's environment for the service (its database
  host, pgbouncer or for a direct fleet users-db, mapped to loopback), as the image's
  user, bound by GUNICORN_CMD_ARGS to a loopback address.
"""

import contextlib
import shutil
import time

import pytest

from conftest import APP_BIN, PGBOUNCER_DIR, USERS_DIR, run
from harness.http import request
from harness.ports import free_port
from harness.processes import IS_ROOT, Processes, as_user, scratch_dir
from harness.waiting import wait_until
from local_pgbouncer import localise
from scratch_postgres import Cluster, psql_over_tcp

PROD_ENV = {"SECRET_KEY": "stack-test-secret", "POSTGRES_PASSWORD": "stack-test-password",
            "USERS_SERVICE_PASSWORD": "stack-test-service-password"}
# The production image's user (Dockerfile-prod): numeric, no home directory.
APP_UID = "10001"
SERVICE_ROLE = "users_service"
# Where compose's names take the services' clients, and what answers there here.
DATABASE_HOST = "users-db:5432"
PGBOUNCER_HOST = "pgbouncer:6432"
# Mount the scratch /run and /etc/pgbouncer, then exec the rest of the arguments.
MOUNT_AND_EXEC = 'mount --bind "$1" /run && mount --bind "$2" /etc/pgbouncer && shift 2 && ' \
                 'exec "$@"'


def image_env():
    """What the production image's environment adds: the venv's programs, no home."""
    return {"PATH": f"{APP_BIN}:/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}


def mapped_url(url, compose_host, local_address):
    """Return `url` with its `compose_host` (name:port) replaced by `local_address`."""
    assert url.count(f"@{compose_host}/") == 1, url
    return url.replace(f"@{compose_host}/", f"@{local_address}/")


class ProdServices:
    """docker-compose-prod.yml as Compose resolves it with PROD_ENV."""

    def __init__(self, compose):
        self.config = compose.resolved("docker-compose-prod.yml", env=PROD_ENV)["services"]

    def environment(self, name):
        return dict(self.config[name]["environment"])

    def command(self, name):
        return list(self.config[name]["command"])


class PgBouncer:
    """services/pgbouncer as a process: its entrypoint, Debian's pgbouncer, a loopback ini."""

    def __init__(self, processes, environment, server_address):
        self.processes = processes
        self.environment = environment
        self.root = scratch_dir("stack-pgbouncer-")
        # The image's /run/pgbouncer: PgBouncer's user's alone (services/pgbouncer/Dockerfile).
        self.run_dir = self.root / "run"
        self.socket_dir = make_dir(self.run_dir / "pgbouncer", owner="postgres", mode=0o700)
        self.etc_dir = make_dir(self.root / "etc")
        self.port = free_port()
        ini = localise((PGBOUNCER_DIR / "pgbouncer.ini").read_text(), self.address,
                       {DATABASE_HOST.split(":")[0]: server_address},
                       {"/run/pgbouncer": str(self.socket_dir)})
        (self.etc_dir / "pgbouncer.ini").write_text(ini)
        self.process = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def auth_file(self):
        return self.socket_dir / "userlist.txt"

    def command(self):
        if not IS_ROOT:
            pytest.skip("PgBouncer's paths are mapped in a mount namespace: needs root")
        entrypoint = as_user("postgres", [str(PGBOUNCER_DIR / "entrypoint.sh")])
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", MOUNT_AND_EXEC,
                "sh", str(self.run_dir), str(self.etc_dir), *entrypoint]

    def env(self, path="/usr/sbin:/usr/bin:/bin"):
        """compose's environment for the service, with a PATH that finds pgbouncer."""
        return {**self.environment, "PATH": path}

    def start(self, name="pgbouncer"):
        self.process = self.processes.start(name, self.command(), cwd="/", env=self.env())
        # The image's healthcheck.
        wait_until(lambda: run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)])
                   .returncode == 0, "PgBouncer accepting connections", 30, self.process)
        return self.process

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


def make_dir(path, owner=None, mode=0o755):
    """Make the directory `path` (and its parents), optionally owned by `owner`."""
    path.mkdir(parents=True)
    path.chmod(mode)
    if owner and IS_ROOT:
        shutil.chown(path, owner, owner)
    return path


class Topology:
    """users-db, users-migrate, pgbouncer and users replicas, started on demand."""

    def __init__(self, compose, log_dir, max_connections=100):
        self.services = ProdServices(compose)
        self.processes = Processes(log_dir)
        database = self.services.environment("users-db")
        self.cluster = Cluster(database["POSTGRES_USER"], database["POSTGRES_PASSWORD"],
                               max_connections)
        self.pgbouncer = None
        self.migrate = None
        # Each replica's metrics directory (a container's own /dev/shm in compose).
        self.metrics_root = scratch_dir("stack-metrics-")

    def start_database(self):
        """users-db's first start with users-migrate waiting for it; wait for the one-shot.

        Records what the healthcheck said during and after the init phase, what the init
        files printed, and the one-shot's exit status.
        """
        self.cluster.initdb()
        self.cluster.start(tcp=False)
        self.migrate = self.start_migrate()
        self.ready_during_init = self.cluster.tcp_ready()
        self.init_outputs = self.cluster.run_init_files(self.services.environment("users-db"))
        self.cluster.stop()
        self.cluster.start(tcp=True)
        self.ready_after_init = self.cluster.tcp_ready()
        self.migrate_status = self.migrate.wait(timeout=120)
        self.migrated_at = time.monotonic()
        assert self.migrate_status == 0, Processes.log(self.migrate)

    def start_migrate(self):
        """Start the one-shot: compose's command from the image's working directory."""
        env = self.services.environment("users-migrate")
        env["DATABASE_URL"] = mapped_url(env["DATABASE_URL"], DATABASE_HOST,
                                         self.cluster.address)
        env.update(image_env())
        command = as_user(APP_UID, self.services.command("users-migrate"), group=APP_UID)
        return self.processes.start("users-migrate", command, cwd=USERS_DIR, env=env)

    def start_pgbouncer(self):
        self.pgbouncer = PgBouncer(self.processes, self.services.environment("pgbouncer"),
                                   self.cluster.address)
        self.pgbouncer.start()

    def replica_env(self, bind, via="pgbouncer", **settings):
        """compose's users environment, to PgBouncer (or `via="direct"` to PostgreSQL)."""
        env = self.services.environment("users")
        target = self.pgbouncer.address if via == "pgbouncer" else self.cluster.address
        env["DATABASE_URL"] = mapped_url(env["DATABASE_URL"], PGBOUNCER_HOST, target)
        env.update(image_env(), GUNICORN_CMD_ARGS=f"--bind {bind}", **settings)
        return env

    def start_replica(self, name, bind, via="pgbouncer", **settings):
        """Start one users replica on `bind` (address:port); `settings` add to its env.

        Its metrics are on compose's port at its address, unless it shares 127.0.0.1 with
        others: then on a free port of its own.
        """
        host = bind.rsplit(":", 1)[0]
        if host == "127.0.0.1":
            settings.setdefault("METRICS_PORT", str(free_port()))
        metrics_dir = self.metrics_root / name
        if not metrics_dir.exists():
            make_dir(metrics_dir, owner=int(APP_UID))
        settings.setdefault("PROMETHEUS_MULTIPROC_DIR", str(metrics_dir))
        command = as_user(APP_UID, [str(USERS_DIR / "entrypoint-prod.sh")], group=APP_UID)
        process = self.processes.start(name, command, cwd="/",
                                       env=self.replica_env(bind, via, **settings))
        process.url = f"http://{bind}"
        process.metrics_url = f"http://{host}:{settings.get('METRICS_PORT', 9101)}/metrics"
        return process

    @staticmethod
    def wait_for_replica(process, timeout=90):
        wait_until(lambda: request(process.url + "/users/ping").status == 200,
                   f"{process.name} answering", timeout, process)

    def psql_as_service(self, *args, password=PROD_ENV["USERS_SERVICE_PASSWORD"]):
        """psql as users_service through PgBouncer, as the replicas connect."""
        return psql_over_tcp(self.pgbouncer.port, SERVICE_ROLE, password, "users_prod", *args)

    def stop(self):
        self.processes.stop_all()
        self.cluster.stop()
        shutil.rmtree(self.metrics_root, ignore_errors=True)
        self.cluster.remove()
        if self.pgbouncer:
            self.pgbouncer.remove()


@contextlib.contextmanager
def database_behind_pgbouncer(compose, log_dir, max_connections=100):
    """Yield a Topology with users-db migrated and pgbouncer in front; stop it all after."""
    topology = Topology(compose, log_dir, max_connections)
    try:
        topology.start_database()
        topology.start_pgbouncer()
        yield topology
    finally:
        topology.stop()
