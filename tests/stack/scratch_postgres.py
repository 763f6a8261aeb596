"""A PostgreSQL cluster of our own in a scratch directory, as the postgres image runs one.

Never the machine's shared server: its roles are cluster-wide, and the stack makes one.
Besides the cluster: psql as any role over TCP, a table lock held from another session,
and a sampler of how many connections a role holds.
"""

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import (IS_ROOT, USERS_DIR, as_user, child_pids, free_port, run, scratch_dir,
                      shown, wait_until)

DB_DIR = USERS_DIR / "project" / "db"
# What the database image copies into /docker-entrypoint-initdb.d (its Dockerfile).
INIT_FILES = [DB_DIR / "create.sql", DB_DIR / "log_settings.sql", DB_DIR / "roles.sh"]


def pg_bin(name):
    """Return the newest installed PostgreSQL server program `name`."""
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda path: int(path.parts[-3]))
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        pytest.fail(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return str(found)


def psql_over_tcp(port, user, password, database, *args, host="127.0.0.1"):
    """Run psql as `user` with `password` (None: none at all) over TCP; return the result."""
    env = {"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"}
    if password is not None:
        env["PGPASSWORD"] = password
    return run(["psql", "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-h", host,
                "-p", str(port), "-U", user, "-d", database, *args], env=env, timeout=30)


class Cluster:
    """A PostgreSQL cluster in a scratch directory, as the postgres image runs one."""

    def __init__(self, superuser, password, max_connections=100):
        self.superuser = superuser
        self.root = scratch_dir("stack-postgres-", owner="postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.password = password
        self.max_connections = max_connections

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def pg(self, *command, env=None):
        result = run(as_user("postgres", command), cwd=self.root, env=env)
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
        options = (f"-c listen_addresses={listen} -k {self.root} -p {self.port} -c fsync=off "
                   f"-c max_connections={self.max_connections}")
        self.pg(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                "-w", "-t", "60", "-o", options, "start")

    def restart(self):
        """`pg_ctl restart -m fast`, as an operator runs it: same options, same log."""
        self.pg(pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                "-m", "fast", "-w", "-t", "60", "restart")

    def server_pids(self):
        """Return the postmaster's pid and its children's: the whole running server."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *child_pids(postmaster)]

    def stop(self):
        if (self.data / "postmaster.pid").exists():
            self.pg(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60",
                    "stop")

    def run_init_files(self, environment):
        """Run the image's init files as its entrypoint does, on the socket-only server.

        `.sql` files go through psql as the superuser; an executable `.sh` runs as a
        program with the container's environment (`environment`: compose's for the
        service) plus what the image's entrypoint exports, PGPASSWORD. Its psql reaches
        the server on the socket: the image's default socket and port are PGHOST and
        PGPORT here. Returns each file's output, by name.
        """
        env = {**environment, "PATH": "/usr/bin:/bin", "PGDATA": str(self.data),
               "PGPASSWORD": environment["POSTGRES_PASSWORD"], "PGHOST": str(self.root),
               "PGPORT": str(self.port)}
        outputs = {}
        for path in sorted(INIT_FILES, key=lambda path: path.name):
            if path.suffix == ".sql":
                command = ["psql", "-v", "ON_ERROR_STOP=1", "--username", self.superuser,
                           "--no-password", "--no-psqlrc", "-f", str(path)]
            else:
                command = [str(path)]
            outputs[path.name] = self.pg(*command, env=env).stdout
        return outputs

    def psql(self, *args, database="postgres"):
        """Run psql as the superuser over the socket, as the image's init scripts do."""
        return self.pg("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                       "-h", str(self.root), "-p", str(self.port), "-U", self.superuser,
                       "-d", database, *args).stdout

    def query(self, sql, database="postgres"):
        """Return the rows `sql` gives, each a list of its fields as text."""
        return [line.split("|") for line in self.psql("-c", sql, database=database)
                .splitlines() if line]

    def tcp_ready(self):
        """Return pg_isready -h's exit code, as the compose healthcheck runs it."""
        return run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port),
                    "-U", self.superuser]).returncode

    def remove(self):
        shutil.rmtree(self.root, ignore_errors=True)


class TableLock:
    """Hold a lock on a table from a superuser session (psql) until the block ends."""

    def __init__(self, cluster, table, mode="ACCESS EXCLUSIVE", database="users_prod"):
        self.cluster, self.table, self.mode, self.database = cluster, table, mode, database
        self.session = None

    def __enter__(self):
        command = as_user("postgres", [
            "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.cluster.root),
            "-p", str(self.cluster.port), "-U", self.cluster.superuser, "-d", self.database])
        self.session = subprocess.Popen(command, stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, text=True)
        self.session.stdin.write(f"BEGIN;\nLOCK TABLE {self.table} IN {self.mode} MODE;\n")
        self.session.stdin.flush()

        def taken():
            assert self.session.poll() is None, f"psql exited ({self.session.returncode})"
            return self.count(granted=True) == 1
        wait_until(taken, f"the lock on {self.table}", 15)
        self.taken_at = time.monotonic()
        return self

    def count(self, granted):
        """Count the lock requests on the table that are granted (or are waiting)."""
        (row,) = self.cluster.query(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            f"WHERE c.relname = '{self.table}' AND l.granted = {granted}",
            database=self.database)
        return int(row[0])

    def __exit__(self, *exc_info):
        # psql ends when its input does; the open transaction rolls back, the lock goes.
        self.session.stdin.close()
        try:
            self.session.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.session.kill()
            self.session.wait(timeout=5)
        self.released_at = time.monotonic()


class ConnectionSampler:
    """Count, every `interval` s, the server connections `role` holds, from one psql."""

    def __init__(self, cluster, role, interval=0.1):
        self.cluster, self.role, self.interval = cluster, role, interval
        self.output = cluster.root / f"connections-{role}-{time.monotonic_ns()}.txt"
        self.samples = []

    def __enter__(self):
        command = as_user("postgres", [
            "psql", "-X", "-A", "-t", "-h", str(self.cluster.root), "-p",
            str(self.cluster.port), "-U", self.cluster.superuser, "-d", "postgres"])
        with open(self.output, "w") as output:
            self.sampler = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=output,
                                            stderr=subprocess.STDOUT, text=True)
        self.sampler.stdin.write(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            f"AND usename = '{self.role}' \\watch {self.interval}\n")
        self.sampler.stdin.flush()
        return self

    def __exit__(self, *exc_info):
        self.sampler.terminate()
        self.sampler.wait(timeout=15)
        self.sampler.stdin.close()
        self.samples = [int(line) for line in self.output.read_text().split()
                        if line.isdigit()]

    @property
    def peak(self):
        return max(self.samples)
