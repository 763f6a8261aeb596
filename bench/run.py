"""Benchmark the users service side by side with two floors, and write the table.

On loopback: a scratch PostgreSQL database migrated with the service's migrations and
seeded with users; the service as production runs it (services/users/gunicorn.conf.py,
ProductionConfig); the Flask floor (bench/flask_floor.py, a bare Flask app on raw
psycopg2), the service's target; the raw floor (bench/floor.py, raw WSGI on psycopg2),
the physical limit; all three under the same gunicorn settings, and the service and the
Flask floor under granian with the same workers and threads, to show what the server
costs; and, for POST /users, the service on two sync workers. wrk drives them in
interleaved rounds (A B C A B C ...) and the medians go to a markdown table.

Run it with the project's venv: `make bench` (see docs/benchmarks.md).
"""

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
USERS_DIR = ROOT / "services" / "users"
BENCH_DIR = ROOT / "bench"
# The test harness the suites share (services/users/harness): servers, HTTP, databases.
sys.path.insert(0, str(USERS_DIR))

from harness.http import request  # noqa: E402
from harness.postgres import administer, drop_database, recreate_database  # noqa: E402
from harness.servers import Gunicorn, Server, migrate, service_env  # noqa: E402

WRK_SCRIPT = BENCH_DIR / "wrk.lua"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/users_bench"
# The comparison POST must beat: the same service, but two sync workers.
SYNC_WORKERS = ["--workers", "2", "--worker-class", "sync", "--threads", "1"]
# The plain twin of the fast path (project.session_path): what the fast path saves; and
# the service with no metrics recorded: what they cost (on is the production default).
DEFAULT_VARIANTS = "session:DATABASE_FAST_PATH=off;metrics-off:METRICS=off"
# Users per page in the growth table of GET /users?limit= (the API's largest page).
PAGE_LIMIT = 100
RESULTS_START = "<!-- bench:results:start -->"
RESULTS_END = "<!-- bench:results:end -->"
MB = 1024 * 1024


@dataclass(frozen=True)
class Route:
    label: str
    method: str
    path: str


PING = Route("GET /users/ping", "GET", "/users/ping")
# The service and the apps in bench/ it is measured against: WSGI app, directory.
APPS = {"service": ("manage:app", USERS_DIR), "flask-floor": ("flask_floor:app", BENCH_DIR),
        "floor": ("floor:app", BENCH_DIR)}
# granian as gunicorn.conf.py runs gunicorn: WSGI over HTTP/1 only, one thread for the
# network I/O of each worker (gthread's main loop).
GRANIAN_OPTIONS = ["--interface", "wsgi", "--http", "1", "--no-ws", "--runtime-threads", "1"]
# The service writes an access line for each request itself (project.observability); the
# floors get their server's, so that every app pays for one line per request.
FLOOR_ACCESS_LOG = {"gunicorn": ["--access-logfile", "-"], "granian": ["--access-log"]}


@dataclass(frozen=True)
class Run:
    """One wrk run against one server."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    # The workers' CPU time per request: steadier than req/s when the cores are shared.
    cpu_ms: float = 0.0

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------------------- database

class Database:
    """A scratch database, dropped and created afresh, dropped again at the end."""

    def __init__(self, url):
        self.url = url

    def __enter__(self):
        recreate_database(self.url)
        return self

    def __exit__(self, *exc):
        drop_database(self.url)

    def execute(self, statement, params=(), autocommit=False):
        conn = psycopg2.connect(self.url)
        conn.autocommit = autocommit
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, params)
                rows = cursor.fetchall() if cursor.description else None
            conn.commit()
            return rows
        finally:
            conn.close()

    def migrate(self):
        """Build the schema with the service's own migrations (`flask db upgrade`)."""
        migrate(self.url)

    def count(self):
        return self.execute("SELECT count(*) FROM users")[0][0]

    def grow_to(self, users):
        """Add seeded users until the table holds `users` of them."""
        start = self.count() + 1
        self.execute(
            "INSERT INTO users (username, email) SELECT 'user' || n, 'user' || n || "
            "'@example.com' FROM generate_series(%s, %s) AS n", (start, users))
        self.execute("VACUUM ANALYZE users", autocommit=True)

    def resize(self, users):
        """Grow the table to `users` users, or cut it back to its first `users`."""
        if users > self.count():
            self.grow_to(users)
        else:
            self.keep_first(users)

    def middle_id(self):
        """Return the id half-way through the table, in id order."""
        return self.execute("SELECT id FROM users ORDER BY id OFFSET %s LIMIT 1",
                            (self.count() // 2,))[0][0]

    def keep_first(self, users):
        """Delete what a POST run added, so every run sees the same table."""
        self.execute("DELETE FROM users WHERE id > %s", (users,))
        self.execute("VACUUM ANALYZE users", autocommit=True)

    def server_version(self):
        return self.execute("SHOW server_version")[0][0]

    def slow_commits(self, milliseconds):
        """Make each commit wait `milliseconds` before its WAL flush, as a slower disk would.

        commit_delay waits only while commit_siblings other transactions are open; 0
        siblings makes every commit wait, and commits that arrive meanwhile share the
        flush (group commit), as on a disk whose flush takes that long. New connections
        pick the setting up: start the servers afterwards. 0 undoes it.
        """
        if milliseconds:
            self.admin("ALTER DATABASE {} SET commit_delay = %d" % (milliseconds * 1000))
            self.admin("ALTER DATABASE {} SET commit_siblings = 0")
        else:
            self.admin("ALTER DATABASE {} RESET commit_delay")
            self.admin("ALTER DATABASE {} RESET commit_siblings")

    def admin(self, statement):
        administer(self.url, statement.replace("{}", '"{}"'))


# ---------------------------------------------------------------------------- servers
# The harness's servers (services/users/harness/servers.py): started on a free loopback
# port with a log in the run's directory, ready once /users/ping answers and every worker
# runs, stopped by their PID. What only the benchmark needs is here.

def gunicorn(name, app, chdir, database_url, log_dir, overrides=(), env=None):
    """`app` from `chdir` under gunicorn with this tree's gunicorn.conf.py plus `overrides`,
    on ProductionConfig with `env` over it."""
    return Gunicorn(database_url, log_dir, name=name, app=app, chdir=chdir,
                    extra_args=overrides, **(env or {}))


def gunicorn_settings(server):
    """Return the worker settings gunicorn resolves for `server`."""
    printed = subprocess.run(server.command("--print-config"), cwd=server.chdir,
                             env=server.env, capture_output=True, text=True, timeout=60,
                             check=True).stdout
    wanted = ("workers", "worker_class", "threads", "worker_connections", "keepalive")
    pairs = (line.split("=", 1) for line in printed.splitlines() if "=" in line)
    values = {name.strip(): value.strip() for name, value in pairs}
    return {name: values[name] for name in wanted if name in values}


class Granian(Server):
    """`app` under granian with gunicorn's `workers` and, as blocking (Python) threads, its
    `threads`."""

    def __init__(self, name, app, chdir, database_url, log_dir, workers, threads,
                 access_log=()):
        super().__init__(name, log_dir, chdir, service_env(database_url))
        self.app = app
        self.workers = int(workers)
        self.options = [*GRANIAN_OPTIONS, *access_log, "--workers", str(workers),
                        "--blocking-threads", str(threads)]

    def command(self):
        return [sys.executable, "-m", "granian", *self.options, "--host", "127.0.0.1",
                "--port", str(self.port), self.app]

    def expected_workers(self):
        return self.workers


def wait_idle(server, timeout=300):
    """Wait until `server`'s workers stop using CPU: wrk is gone, its queued requests not."""
    deadline = time.monotonic() + timeout
    used = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = server.cpu_seconds()
        if now - used < 0.02:
            return
        used = now


def fetch(method, url, body=None):
    """Send one request; return (status, raw body bytes)."""
    answer = request(url, method, None if body is None else json.dumps(body), timeout=60)
    return answer.status, answer.body


# ---------------------------------------------------------------------------- checks

def check_same_answers(service, other, database, users):
    """Stop unless `other` answers the benchmark's requests exactly as the service."""
    probes = [("GET", "/users/ping", None), ("GET", "/users/1", None),
              ("GET", f"/users/{users}", None), ("GET", "/users/0", None),
              ("GET", "/users/99999999999", None), ("GET", "/users", None)]
    for method, path, body in probes:
        expect_same(other.name, method, path, fetch(method, service.base_url + path, body),
                    fetch(method, other.base_url + path, body))
    # New users, then duplicates: the email taken, the username taken, both taken (the
    # email is named), each by the other server's first user.
    posts = [
        ({"username": "probe-a", "email": "probe-a@mherman.org"},
         {"username": "probe-b", "email": "probe-b@mherman.org"}),
        ({"username": "probe-c", "email": "probe-b@mherman.org"},
         {"username": "probe-d", "email": "probe-a@mherman.org"}),
        ({"username": "probe-b", "email": "probe-e@mherman.org"},
         {"username": "probe-a", "email": "probe-f@mherman.org"}),
        ({"username": "probe-b", "email": "probe-b@mherman.org"},
         {"username": "probe-a", "email": "probe-a@mherman.org"}),
    ]
    for service_user, other_user in posts:
        service_answer = fetch("POST", service.base_url + "/users", service_user)
        other_answer = fetch("POST", other.base_url + "/users", other_user)
        # A new user's message names its own email: compare with the emails swapped.
        swapped = other_answer[1].replace(other_user["email"].encode(),
                                          service_user["email"].encode())
        expect_same(other.name, "POST", "/users", service_answer, (other_answer[0], swapped))
    database.keep_first(users)


def expect_same(name, method, path, service_answer, other_answer):
    if service_answer != other_answer:
        raise SystemExit(f"{name} answers {method} {path} unlike the service:\n"
                         f"  service: {service_answer!r:.300}\n"
                         f"  {name}: {other_answer!r:.300}")


# ---------------------------------------------------------------------------- wrk

def wrk(url, connections, seconds, timeout, post_tag=None):
    env = dict(os.environ)
    env.pop("BENCH_POST_TAG", None)
    if post_tag:
        env["BENCH_POST_TAG"] = post_tag
    command = ["wrk", "-t", str(min(2, connections)), "-c", str(connections),
               "-d", f"{seconds}s", "--timeout", f"{timeout}s", "-s", str(WRK_SCRIPT), url]
    finished = subprocess.run(command, env=env, capture_output=True, text=True,
                              timeout=seconds + timeout + 60, check=True)
    line = next(line for line in finished.stdout.splitlines() if line.startswith("BENCH_JSON "))
    raw = json.loads(line[len("BENCH_JSON "):])
    sockets = sum(raw[kind] for kind in ("connect", "read", "write", "timeout"))
    return Run(requests=raw["requests"], seconds=raw["duration_us"] / 1e6,
               p50_ms=raw["p50_us"] / 1000, p99_ms=raw["p99_us"] / 1000,
               non_2xx=raw["status"], socket_errors=sockets)


class Bench:
    """Interleaved wrk rounds over a set of servers."""

    def __init__(self, args, database):
        self.args, self.database = args, database
        self.runs = 0

    def drive(self, server, route, seconds=None, connections=None, timeout=None):
        args = self.args
        self.runs += 1
        # The tag goes into the posted username and email: letters, digits and dashes
        # only (a tree's server is named service@<commit>).
        name = re.sub(r"[^A-Za-z0-9]", "-", server.name)
        tag = f"{name}-{self.runs}-{time.time_ns() % 10**9}"
        cpu_before = server.cpu_seconds()
        run = wrk(server.base_url + route.path, connections or args.connections,
                  seconds or args.duration, timeout or args.timeout,
                  post_tag=tag if route.method == "POST" else None)
        wait_idle(server)
        cpu = (server.cpu_seconds() - cpu_before) * 1000 / max(run.requests, 1)
        run = dataclasses.replace(run, cpu_ms=cpu)
        if route.method == "POST":
            self.database.keep_first(args.users)
        return run

    def interleave(self, servers, route, rounds=None):
        """Warm each server up on `route`, then drive them in turn for the rounds.

        Each round starts one server further along, so that no server always runs
        first, or always right after the same one: with a fixed order, the ping (the
        same code in two checkouts) came out 0.85 and 0.92 of the Flask floor in one run.
        """
        for server in servers:
            self.drive(server, route, seconds=self.args.warmup)
        runs = {server.name: [] for server in servers}
        for round_number in range(1, (rounds or self.args.rounds) + 1):
            start = (round_number - 1) % len(servers)
            for server in servers[start:] + servers[:start]:
                run = self.drive(server, route)
                runs[server.name].append(run)
                log(f"  {route.label:<20} round {round_number} {server.name:<19} "
                    f"{run.rps:9.1f} req/s  p50 {run.p50_ms:7.2f} ms  "
                    f"p99 {run.p99_ms:7.2f} ms  CPU {run.cpu_ms:5.2f} ms/request  "
                    f"non-2xx {run.non_2xx}  "
                    f"socket errors {run.socket_errors}")
        return runs

    def scale(self, servers, route, users):
        """Time `route` on fresh servers, alone and under load; watch the workers' memory.

        Alone (one connection), p50 is what one request costs; under load
        (--scale-connections), each worker's peak RSS shows what answering costs it.
        """
        for server in servers:
            server.start()
            self.drive(server, Route("ping", "GET", "/users/ping"), seconds=1)
        idle = {server.name: server.worker_memory() for server in servers}
        alone = {server.name: [] for server in servers}
        loaded = {server.name: [] for server in servers}
        seconds, timeout = self.args.scale_duration, max(self.args.timeout, 120)
        for _ in range(self.args.scale_rounds):
            for server in servers:
                one = self.drive(server, route, seconds, connections=1, timeout=timeout)
                many = self.drive(server, route, seconds, timeout=timeout,
                                  connections=self.args.scale_connections)
                alone[server.name].append(one)
                loaded[server.name].append(many)
                log(f"  {route.label} at {users:>7} {server.name:<8} alone p50 "
                    f"{one.p50_ms:8.2f} ms ({one.requests} requests); loaded "
                    f"{many.rps:8.1f} req/s  non-2xx {one.non_2xx + many.non_2xx}  "
                    f"socket errors {one.socket_errors + many.socket_errors}")
        memory = {}
        for server in servers:
            after = server.worker_memory()
            growth = [after[pid][1] - rss for pid, (rss, _) in idle[server.name].items()
                      if pid in after]
            memory[server.name] = (max(hwm for _, hwm in after.values()), max(growth))
            server.stop()
        return {"alone": alone, "loaded": loaded, "memory": memory}


def all_runs(found):
    """Every run in a {group: {server: [runs]}} or {server: [runs]} result."""
    for value in found.values():
        if isinstance(value, list):
            yield from value
        elif isinstance(value, dict):
            yield from all_runs(value)


def median(values):
    return statistics.median(values) if values else 0.0


def log(message):
    print(message, flush=True)


# ---------------------------------------------------------------------------- report

def summary(runs):
    return {
        "rps": median([run.rps for run in runs]),
        "p50": median([run.p50_ms for run in runs]),
        "p99": median([run.p99_ms for run in runs]),
        "cpu": median([run.cpu_ms for run in runs]),
        "non_2xx": sum(run.non_2xx for run in runs),
        "socket_errors": sum(run.socket_errors for run in runs),
    }


def ratio(a, b):
    return a / b if b else float("nan")


def paired_ratio(runs, baseline_runs):
    """Median over rounds of each round's req/s ratio: the rounds ran side by side."""
    return median([ratio(run.rps, base.rps) for run, base in zip(runs, baseline_runs)])


def machine(database):
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GB RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}, PostgreSQL {database.server_version()}; "
            "the cores are shared with other work, so absolute numbers are noisy")


def render_slow_commits(args, slow_commits):
    lines = [
        "",
        "`POST /users` when commits are slow: each commit waits the given time before its "
        "WAL flush (`commit_delay`, `commit_siblings = 0` on the scratch database), as on a "
        "disk whose flush takes that long; commits that arrive meanwhile share the flush. "
        f"{args.commit_rounds} interleaved rounds of {args.duration} s, servers restarted "
        "for each delay.",
        "",
        "| commit delay ms | service req/s | raw floor req/s | two sync workers req/s "
        "| service/raw floor | service/two sync workers | non-2xx (service, raw floor, sync) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for delay, runs in slow_commits.items():
        found = {name: summary(found_runs) for name, found_runs in runs.items()}
        lines.append(
            f"| {delay} | {found['service']['rps']:,.0f} | {found['floor']['rps']:,.0f} | "
            f"{found['sync-workers']['rps']:,.0f} | "
            f"{paired_ratio(runs['service'], runs['floor']):.2f} | "
            f"**{paired_ratio(runs['service'], runs['sync-workers']):.2f}** | "
            f"{found['service']['non_2xx']}, {found['floor']['non_2xx']}, "
            f"{found['sync-workers']['non_2xx']} |")
    return lines


def render_routes(routes, results):
    """The routes table: per route, a row for gunicorn and one for granian."""
    lines = [
        "| Route | server | service req/s | Flask floor req/s | raw floor req/s "
        "| service/Flask floor | service/raw floor "
        "| p50 / p99 ms (service, Flask floor, raw floor) "
        "| worker CPU ms/request (service, Flask floor, raw floor) | non-2xx | socket errors |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for route in routes:
        runs = results[route.label]
        for server, suffix in (("gunicorn", ""), ("granian", "-granian")):
            # The raw floor runs under gunicorn only: None leaves its cells empty.
            found = [runs.get(name + suffix) for name in APPS]
            service, flask_floor, floor = found
            ratios = [f"{paired_ratio(service, flask_floor):.2f}",
                      f"{paired_ratio(service, floor):.2f}" if floor else ""]
            if server == "gunicorn":
                ratios[0] = f"**{ratios[0]}**"
            summaries = [summary(one) if one else None for one in found]
            served = [one for one in summaries if one]
            cells = [
                *(f"{one['rps']:,.0f}" if one else "" for one in summaries), *ratios,
                ", ".join(f"{one['p50']:.1f} / {one['p99']:.1f}" for one in served),
                ", ".join(f"{one['cpu']:.2f}" for one in served),
                ", ".join(str(one["non_2xx"]) for one in served),
                ", ".join(str(one["socket_errors"]) for one in served),
            ]
            lines.append(f"| `{route.label}` | {server} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "What the server costs: granian's req/s over gunicorn's for the same app, the "
        "median of the rounds' ratios.",
        "",
        "| Route | service granian/gunicorn | Flask floor granian/gunicorn |",
        "| --- | ---: | ---: |",
    ]
    for route in routes:
        runs = results[route.label]
        lines.append(f"| `{route.label}` | "
                     + " | ".join(f"{paired_ratio(runs[name + '-granian'], runs[name]):.2f}"
                                  for name in ("service", "flask-floor")) + " |")
    return lines


def tree_name(tree):
    """Name another checkout's service by the commit it is at."""
    commit = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, timeout=30, check=False)
    return "service@" + (commit.stdout.strip() or Path(tree).name)


def parse_variants(text):
    """Read `name:VAR=value,VAR=value; ...` as [(name, {VAR: value})]; empty gives none."""
    variants = []
    for item in filter(None, (part.strip() for part in text.split(";"))):
        name, _, settings = item.partition(":")
        pairs = [pair.split("=", 1) for pair in settings.split(",") if pair.strip()]
        if not re.fullmatch(r"[A-Za-z0-9-]+", name) or any(len(pair) != 2 for pair in pairs):
            raise SystemExit(f"--variants: {item!r} is not name:VARIABLE=value[,...]")
        variants.append((name, {key.strip(): value.strip() for key, value in pairs}))
    return variants


def render_trees(routes, results):
    """Other checkouts' services, and this one's variants, in the same rounds."""
    names = [name for name in results[routes[0].label] if name.startswith(("service@",
                                                                           "service+"))]
    if not names:
        return []
    lines = ["", "Other trees' services and this tree's variants (`service+name`, "
             "`--variants`) in the same rounds, service/Flask floor:", "",
             "| Route | this tree | " + " | ".join(f"`{name}`" for name in names) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in names) + " |"]
    for route in routes:
        runs = results[route.label]
        lines.append(f"| `{route.label}` | "
                     + " | ".join(tree_cell(runs[name], runs["flask-floor"])
                                  for name in ("service", *names)) + " |")
    return lines


def tree_cell(runs, floor_runs):
    """A ratio, and the failed answers beside it: an older tree may answer otherwise."""
    failed = sum(run.non_2xx + run.socket_errors for run in runs)
    ratio = f"{paired_ratio(runs, floor_runs):.2f}"
    return f"{ratio} ({failed:,} non-2xx or socket errors)" if failed else ratio


def render(context, routes, results, post_sync, scale_results, slow_commits,
           page_results=None):
    args = context["args"]
    lines = [
        f"Command: `{context['command']}`  ",
        f"Date: {context['date']}  ",
        f"Machine: {context['machine']}  ",
        f"gunicorn settings (service and floors): {context['settings']}  ",
        f"granian: {context['granian']}  ",
        f"Load: wrk, {args.connections} connections, {args.rounds} interleaved rounds of "
        f"{args.duration} s per server and route (after a {args.warmup} s warm-up), "
        f"{args.users:,} users in the table. req/s, p50 and p99 are medians over the "
        "rounds; ratios are the medians of the rounds' ratios. The target is "
        "service/Flask floor under gunicorn (bold); the raw floor is the physical limit.",
        "",
        *render_routes(routes, results),
        *render_trees(routes, results),
    ]
    if post_sync:
        production, sync = summary(post_sync["service"]), summary(post_sync["sync-workers"])
        lines += [
            "",
            "`POST /users`, the service as configured against the same service on two sync "
            f"workers (`{' '.join(SYNC_WORKERS)}`), same rounds:",
            "",
            "| POST /users | production config req/s | two sync workers req/s | ratio "
            "| non-2xx (production, sync) |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| `POST /users` | {production['rps']:,.0f} | {sync['rps']:,.0f} | "
            f"**{paired_ratio(post_sync['service'], post_sync['sync-workers']):.2f}** | "
            f"{production['non_2xx']}, {sync['non_2xx']} |",
        ]
    if slow_commits:
        lines += render_slow_commits(args, slow_commits)
    if scale_results:
        lines += [
            "",
            f"`GET /users` as the table grows, on fresh servers per size, "
            f"{args.scale_rounds} interleaved rounds of {args.scale_duration} s each way. "
            "*Alone*: one connection, so p50 is the time one request takes. *Loaded*: "
            f"{args.scale_connections} connections; *growth* is the most a worker's peak RSS "
            "rose above its idle RSS (measured after a ping warm-up) over all the runs.",
            "",
            "| users | service alone p50 ms | raw floor alone p50 ms | service/raw floor time "
            "| service loaded req/s | service worker peak / growth MB "
            "| raw floor worker peak / growth MB | non-2xx, socket errors |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for users, found in scale_results.items():
            service, floor = (summary(found["alone"][name]) for name in ("service", "floor"))
            service_loaded = summary(found["loaded"]["service"])
            memory = found["memory"]
            errors = [sum(run.non_2xx for run in all_runs(found)),
                      sum(run.socket_errors for run in all_runs(found))]
            lines.append(
                f"| {users:,} | {service['p50']:.2f} | {floor['p50']:.2f} | "
                f"{ratio(service['p50'], floor['p50']):.2f} | {service_loaded['rps']:,.1f} | "
                f"{memory['service'][0] / MB:.0f} / {memory['service'][1] / MB:.1f} | "
                f"{memory['floor'][0] / MB:.0f} / {memory['floor'][1] / MB:.1f} | "
                f"{errors[0]}, {errors[1]} |")
        sizes = sorted(scale_results)
        lines.append("")
        for small, large in zip(sizes, sizes[1:]):
            times = [summary(scale_results[size]["alone"]["service"])["p50"]
                     for size in (small, large)]
            lines.append(f"Service time per request from {small:,} to {large:,} users: "
                         f"{times[1] / times[0]:.1f}x for {large / small:.0f}x the users.  ")
    if page_results:
        lines += render_page_scale(args, page_results)
    return "\n".join(lines) + "\n"


def page_routes(database):
    """The routes of `GET /users?limit=100` timed as the table grows: the first page, and
    the page after the middle id (where an OFFSET would read half the table)."""
    return {"first": Route("GET /users?limit=100", "GET", f"/users?limit={PAGE_LIMIT}"),
            "middle": Route("GET /users?limit=100&after=<middle>", "GET",
                            f"/users?limit={PAGE_LIMIT}&after={database.middle_id()}")}


def render_page_scale(args, page_results):
    """The growth table of one page of 100 users: its cost should not grow with the table."""
    lines = [
        "",
        f"`GET /users?limit={PAGE_LIMIT}` as the table grows: the first page, and the page "
        "after the id half-way through the table (`&after=<middle>`), on a fresh service per "
        "size and page (the floors answer only the whole list), "
        f"{args.scale_rounds} rounds of {args.scale_duration} s each way, alone (one "
        f"connection: p50 is one request's time) and loaded ({args.scale_connections} "
        "connections).",
        "",
        "| users | first page alone p50 ms | middle page alone p50 ms "
        "| first page loaded req/s | middle page loaded req/s "
        "| service worker growth MB (first, middle) | non-2xx, socket errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for users, found in page_results.items():
        alone = [summary(found[where]["alone"]["service"]) for where in ("first", "middle")]
        loaded = [summary(found[where]["loaded"]["service"]) for where in ("first", "middle")]
        growth = [found[where]["memory"]["service"][1] / MB for where in ("first", "middle")]
        runs = list(all_runs(found))
        lines.append(
            f"| {users:,} | {alone[0]['p50']:.2f} | {alone[1]['p50']:.2f} | "
            f"{loaded[0]['rps']:,.0f} | {loaded[1]['rps']:,.0f} | "
            f"{growth[0]:.1f}, {growth[1]:.1f} | {sum(run.non_2xx for run in runs)}, "
            f"{sum(run.socket_errors for run in runs)} |")
    sizes = sorted(page_results)
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        lines.append("")
        for where in ("first", "middle"):
            times = [summary(page_results[size][where]["alone"]["service"])["p50"]
                     for size in (small, large)]
            lines.append(f"Time of the {where} page from {small:,} to {large:,} users: "
                         f"{ratio(times[1], times[0]):.2f}x for {large / small:,.0f}x the "
                         "users.  ")
    return lines


def write_report(path, text):
    """Put `text` between the results markers of `path`, keeping everything else."""
    path = Path(path)
    block = f"{RESULTS_START}\n{text}{RESULTS_END}\n"
    old = path.read_text() if path.exists() else ""
    if RESULTS_START in old and RESULTS_END in old:
        head, rest = old.split(RESULTS_START, 1)
        new = head + block + rest.split(RESULTS_END, 1)[1].lstrip("\n")
    else:
        new = (old.rstrip("\n") + "\n\n" if old else "# Benchmarks\n\n") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)


# ---------------------------------------------------------------------------- main

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 DEFAULT_DATABASE_URL),
                        help="scratch database to create, use and drop")
    parser.add_argument("--users", type=int, default=1000, help="users for the route table")
    parser.add_argument("--connections", type=int, default=16)
    # Many short rounds: the machine's background load changes within seconds, and
    # only runs close in time see the same load.
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per route")
    parser.add_argument("--timeout", type=int, default=10, help="wrk's request timeout, s")
    parser.add_argument("--scale", default="1000,10000,100000",
                        help="comma-separated table sizes for GET /users; empty skips")
    parser.add_argument("--page-scale", default="1000,10000,100000,1000000",
                        help=f"comma-separated table sizes for GET /users?limit={PAGE_LIMIT} "
                             "(the first page and one from the middle, the service only); "
                             "empty skips")
    parser.add_argument("--scale-connections", type=int, default=16)
    parser.add_argument("--scale-rounds", type=int, default=2)
    parser.add_argument("--scale-duration", type=int, default=5)
    parser.add_argument("--routes", default="ping,get,list,post",
                        help="which of ping,get,list,post to run")
    parser.add_argument("--no-sync-comparison", action="store_true",
                        help="skip the POST run on two sync workers")
    parser.add_argument("--commit-delays", default="1,2,5",
                        help="comma-separated commit delays in ms for the slow-commit POST "
                             "runs; empty skips")
    parser.add_argument("--commit-rounds", type=int, default=8,
                        help="interleaved rounds per commit delay")
    parser.add_argument("--gunicorn-args", default="",
                        help="extra arguments for every gunicorn (granian takes its "
                             "workers and threads)")
    parser.add_argument("--tree", action="append", default=[], metavar="CHECKOUT",
                        help="another checkout whose service runs in the routes' rounds too, "
                             "e.g. a git worktree of an older commit (repeatable)")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help="this tree's service with other settings in the routes' rounds "
                             "too, as name:VARIABLE=value[,...] separated by ';'; empty skips "
                             f"(default: {DEFAULT_VARIANTS})")
    parser.add_argument("--out", help="markdown file to write the results into")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    chosen = args.routes.split(",")
    all_routes = {
        "ping": PING,
        "get": Route("GET /users/<id>", "GET", f"/users/{max(1, args.users // 2)}"),
        "list": Route(f"GET /users ({args.users:,})", "GET", "/users"),
        "post": Route("POST /users", "POST", "/users"),
    }
    routes = [all_routes[name] for name in chosen]
    sizes = [int(size) for size in args.scale.split(",") if size.strip()]
    page_sizes = [int(size) for size in args.page_scale.split(",") if size.strip()]
    delays = [int(delay) for delay in args.commit_delays.split(",") if delay.strip()]
    if "post" not in chosen or args.no_sync_comparison:
        delays = []
    extra = args.gunicorn_args.split()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="users-bench-") as log_dir, \
            Database(args.database_url) as database:
        database.migrate()
        database.grow_to(args.users)

        def service_like(name, app, overrides=()):
            access_log = FLOOR_ACCESS_LOG["gunicorn"] if app != "service" else []
            return gunicorn(name, *APPS[app], database.url, log_dir,
                            [*extra, *access_log, *overrides])

        service, flask_floor, floor = (service_like(name, name) for name in APPS)
        sync = service_like("sync-workers", "service", SYNC_WORKERS)
        # Other trees' services: measured in the same rounds, not probed (an older tree
        # may answer otherwise), served with this tree's gunicorn.conf.py.
        trees = [gunicorn(tree_name(tree), APPS["service"][0],
                          Path(tree).resolve() / "services" / "users", database.url, log_dir,
                          extra)
                 for tree in args.tree]
        # This tree's service with other settings (the plain path, by default).
        trees += [gunicorn(f"service+{name}", *APPS["service"], database.url, log_dir, extra,
                           env)
                  for name, env in parse_variants(args.variants)]
        settings = gunicorn_settings(service)
        granians = [Granian(f"{one.name}-granian", one.app, one.chdir, database.url, log_dir,
                            settings["workers"], settings["threads"], access_log)
                    for one, access_log in ((service, ()),
                                            (flask_floor, FLOOR_ACCESS_LOG["granian"]))]
        context = {
            "args": args,
            "command": os.environ.get("BENCH_COMMAND")
            or shlex.join(["python", "bench/run.py", *sys.argv[1:]]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(database),
            "settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
            "granian": f"{importlib.metadata.version('granian')}, "
                       f"`{shlex.join(granians[0].options)}`",
        }
        log(f"Service settings: {context['settings']}; {context['granian']}")
        bench = Bench(args, database)
        results, post_sync, scale_results, slow_commits = {}, None, {}, {}
        page_results = {}
        compared = [flask_floor, floor, *granians]
        try:
            for one in (service, *compared, *trees, sync):
                one.start()
            for one in compared:
                check_same_answers(service, one, database, args.users)
            log("The floors, and both apps under granian, answer exactly as the service; "
                "benchmarking.")
            for route in routes:
                with_sync = route.method == "POST" and not args.no_sync_comparison
                servers = [service, *compared, *trees, *([sync] if with_sync else [])]
                runs = bench.interleave(servers, route)
                results[route.label] = runs
                if with_sync:
                    post_sync = runs
        finally:
            for one in (service, *compared, *trees, sync):
                one.stop()
        posting = all_routes["post"]
        for delay in delays:
            database.slow_commits(delay)
            try:
                for one in (service, floor, sync):
                    one.start()
                slow_commits[delay] = bench.interleave([service, floor, sync], posting,
                                                       rounds=args.commit_rounds)
            finally:
                for one in (service, floor, sync):
                    one.stop()
                database.slow_commits(0)
        listing = Route("GET /users", "GET", "/users")
        for users in sizes:
            if users > database.count():
                database.grow_to(users)
            else:
                database.keep_first(users)
            try:
                scale_results[users] = bench.scale([service, floor], listing, users)
            finally:
                service.stop()
                floor.stop()
        for users in page_sizes:
            database.resize(users)
            try:
                page_results[users] = {where: bench.scale([service], route, users)
                                       for where, route in page_routes(database).items()}
            finally:
                service.stop()
    text = render(context, routes, results, post_sync, scale_results, slow_commits,
                  page_results)
    print("\n" + text)
    if args.out:
        write_report(args.out, text)
        log(f"Wrote {args.out}")
    log(f"Took {time.monotonic() - started:.0f} s")
    runs = [*all_runs(results), *all_runs(scale_results), *all_runs(slow_commits),
            *all_runs(page_results)]
    errors = sum(run.non_2xx + run.socket_errors for run in runs)
    if errors:
        log(f"FAILED: {errors} non-2xx responses or socket errors")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
