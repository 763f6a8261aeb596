"""A throwaway PostgreSQL cluster of our own, and scratch databases on a server by URL.

The cluster lives in a scratch directory, on a free port, run as the postgres user. It is
never the machine's shared server: tests stop, kill and restart it, and make roles in it,
which are cluster-wide.
"""

import contextlib
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

from harness.ports import free_port
from harness.processes import IS_ROOT, as_user, child_pids, scratch_dir

PG_USER = "postgres"
COMMAND_TIMEOUT = 120


def pg_bin(name, bin_dir=None):
    """Return PostgreSQL's server program `name` from `bin_dir`, or the newest installed."""
    if bin_dir:
        return str(Path(bin_dir) / name)
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
                        key=lambda path: int(path.parts[-3]))
    found = candidates[-1] if candidates else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed "
                                "(Debian package postgresql)")
    return str(found)


def psycopg2_connect(**params):
    """Connect with psycopg2, imported here: the stack's tools venv has no driver, and the
    cluster's other uses need none."""
    import psycopg2
    return psycopg2.connect(**params)


class Cluster:
    """A PostgreSQL cluster in a scratch directory, on a free port at `host`.

    With a `password`, the superuser needs it over TCP (SCRAM), as the postgres image sets
    up; without, every connection is trusted. `settings` go to the server as `-c` options.
    """

    def __init__(self, superuser=PG_USER, password=None, max_connections=100,
                 host="127.0.0.1", settings=None, bin_dir=None):
        self.superuser = superuser
        self.password = password
        self.max_connections = max_connections
        self.host = host
        self.settings = dict(settings or {})
        self.bin_dir = bin_dir
        self.root = scratch_dir("harness-postgres-", owner=PG_USER)
        self.data = self.root / "data"
        self.log_path = self.root / "server.log"
        self.port = free_port(host)

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    def url(self, database):
        return f"postgresql://{self.superuser}@{self.address}/{database}"

    def as_postgres(self, *command, env=None, timeout=COMMAND_TIMEOUT):
        """Run `command` as the postgres user from the cluster's directory; fail on error."""
        result = subprocess.run(as_user(PG_USER, command), cwd=self.root, env=env,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} exited {result.returncode}\nstdout:\n"
                               f"{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def pg_ctl(self, *args):
        return self.as_postgres(pg_bin("pg_ctl", self.bin_dir), "-D", str(self.data), *args)

    def initdb(self):
        if self.password is None:
            self.as_postgres(pg_bin("initdb", self.bin_dir), *self.initdb_options(),
                             "--auth=trust")
            return
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if IS_ROOT:
            shutil.chown(password_file, PG_USER, PG_USER)
        # The postgres image's defaults: trust on the socket, passwords (SCRAM) over TCP.
        try:
            self.as_postgres(pg_bin("initdb", self.bin_dir), *self.initdb_options(),
                             f"--pwfile={password_file}", "--auth-local=trust",
                             "--auth-host=scram-sha-256")
        finally:
            password_file.unlink()

    def initdb_options(self):
        return ["-D", str(self.data), "-U", self.superuser, "--encoding=UTF8",
                "--locale=C.UTF-8", "--no-sync"]

    def start(self, tcp=True):
        """Start the server: on TCP and its socket, or (`tcp=False`) on its socket only, as
        the postgres image's init phase does."""
        listen = self.host if tcp else "''"
        options = [f"-c listen_addresses={listen}", f"-k {self.root}", f"-p {self.port}",
                   f"-c max_connections={self.max_connections}",
                   *(f"-c {name}={value}" for name, value in self.settings.items())]
        self.pg_ctl("-l", str(self.log_path), "-w", "-t", "60", "-o", " ".join(options),
                    "start")

    def restart(self, mode="fast"):
        """`pg_ctl restart -m MODE`, as an operator runs it: same options, same log."""
        self.pg_ctl("-l", str(self.log_path), "-m", mode, "-w", "-t", "60", "restart")

    def server_pids(self):
        """Return the postmaster's pid and its children's: the whole running server."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        return [postmaster, *child_pids(postmaster)]

    def stop(self, mode="fast"):
        """Stop the server (`pg_ctl stop -m MODE`) if it runs."""
        if self.is_running():
            self.pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def is_running(self):
        if not (self.data / "PG_VERSION").exists():
            return False
        status = subprocess.run(as_user(PG_USER, [pg_bin("pg_ctl", self.bin_dir), "-D",
                                                  str(self.data), "status"]),
                                cwd=self.root, capture_output=True, timeout=30, check=False)
        return status.returncode == 0

    def psql(self, *args, database="postgres"):
        """Run psql as the superuser over the socket, as the image's init scripts do."""
        return self.as_postgres("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                "-h", str(self.root), "-p", str(self.port), "-U", self.superuser,
                                "-d", database, *args).stdout

    def query(self, sql, database="postgres"):
        """Return the rows `sql` gives, each a list of its fields as text."""
        return [line.split("|") for line in self.psql("-c", sql, database=database)
                .splitlines() if line]

    def tcp_ready(self):
        """Return pg_isready -h's exit code, as the compose healthcheck runs it."""
        return subprocess.run(["pg_isready", "-h", self.host, "-p", str(self.port),
                               "-U", self.superuser], capture_output=True, timeout=30,
                              check=False).returncode

    def connect(self, database="postgres", **options):
        """Open a psycopg2 connection to `database` as the superuser, over TCP."""
        return psycopg2_connect(host=self.host, port=self.port, user=self.superuser,
                                password=self.password, dbname=database, connect_timeout=5,
                                **options)

    def create_database(self, name):
        """Create the database `name` afresh (dropped first if it exists); return its URL."""
        self.psql("-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                  "-c", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self):
        """Stop the server at once if it runs, and delete the cluster."""
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def recreate_database(url):
    """Drop the database `url` names if it exists, and create it empty, on its server."""
    administer(url, 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)', 'CREATE DATABASE "{}"')


def drop_database(url):
    administer(url, 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database(url):
    """Create the database `url` names afresh, yield `url`, and drop the database after."""
    recreate_database(url)
    try:
        yield url
    finally:
        drop_database(url)


def administer(url, *statements):
    """Run `statements` (each naming the database with "{}") on `url`'s server, from its
    postgres database."""
    # libpq reads postgresql:// URLs; SQLAlchemy's name their driver too.
    target = urllib.parse.urlsplit(re.sub(r"^postgresql\+\w+://", "postgresql://", url))
    name = urllib.parse.unquote(target.path.lstrip("/"))
    connection = psycopg2_connect(dsn=urllib.parse.urlunsplit(target._replace(path="/postgres")))
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement.format(name.replace('"', '""')))
    finally:
        connection.close()
