"""The harness's scratch PostgreSQL cluster as the postgres image runs one.

Never the machine's shared server: its roles are cluster-wide, and the stack makes one.
Besides the cluster: psql as any role over TCP, a table lock held from another session,
and a sampler of how many connections a role holds.
"""

import subprocess
import time

from conftest import USERS_DIR, run
from harness import postgres
from harness.processes import as_user
from harness.waiting import wait_until

DB_DIR = USERS_DIR / "project" / "db"
# What the database image copies into /docker-entrypoint-initdb.d (its Dockerfile).
INIT_FILES = [DB_DIR / "create.sql", DB_DIR / "log_settings.sql", DB_DIR / "roles.sh"]


def psql_over_tcp(port, user, password, database, *args, host="127.0.0.1"):
    """Run psql as `user` with `password` (None: none at all) over TCP; return the result."""
    env = {"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"}
    if password is not None:
        env["PGPASSWORD"] = password
    return run(["psql", "-X", "-q", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1", "-h", host,
                "-p", str(port), "-U", user, "-d", database, *args], env=env, timeout=30)


class Cluster(postgres.Cluster):
    """The scratch cluster (harness.postgres) as the postgres image runs one: the
    superuser's password over TCP, fsync off, and the image's init files."""

    def __init__(self, superuser, password, max_connections=100):
        super().__init__(superuser, password, max_connections, settings={"fsync": "off"})

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
            outputs[path.name] = self.as_postgres(*command, env=env).stdout
        return outputs


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
