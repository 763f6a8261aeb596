"""CPU per request of the WSGI apps themselves, called in-process: no server, no wrk.

Without gunicorn and the network, this shows what the service's own code costs next to
the Flask floor (bench/flask_floor.py) and the raw floor (bench/floor.py). Code called
in a hot loop runs faster than between network waits (bench/run.py's CPU per request),
so the figures are lower bounds. With `--tree`, other checkouts of the repository (e.g.
a `git worktree` of an older commit) are measured too, alternating with this one round
by round, so that background load falls on all of them alike; the floors are always
this checkout's.

Each round runs one child process per tree (the trees' `project` packages cannot share a
process); the table keeps each figure's lowest round. Run it with the project's venv:
`.venv/bin/python bench/inprocess.py --tree /tmp/old`.
"""

import argparse
import cProfile
import io
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from run import Database, DEFAULT_DATABASE_URL  # noqa: E402

ROUTES = ("ping", "get", "list", "post")


def environ(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    return {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "", "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5000", "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:5000", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr,
        "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json" if body else "",
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }


def call(app, env):
    """Run one request through `app`; return its status line."""
    status = []
    body = app(env, lambda line, headers, exc_info=None: status.append(line))
    b"".join(body)
    if hasattr(body, "close"):
        body.close()
    return status[0]


def requests_for(route, users, tag):
    """Return a function making the environ of the n-th request on `route`."""
    if route == "ping":
        return lambda n: environ("GET", "/users/ping")
    if route == "get":
        return lambda n: environ("GET", f"/users/{max(1, users // 2)}")
    if route == "list":
        return lambda n: environ("GET", "/users")
    name = f"inprocess-{tag}-{time.time_ns()}"
    return lambda n: environ("POST", "/users", {"username": f"{name}-{n}",
                                                "email": f"{name}-{n}@bench.mherman.org"})


def use_tree(tree, database_url):
    """Make this process import `tree`'s service, as production configures it, but for
    its access line.

    The service writes a line for each request itself (project.observability), where the
    floors leave it to their server; here there is no server, so no app writes one
    (LOG_LEVEL=WARNING). bench/run.py's served comparison has a line from every app.
    """
    os.environ.update(APP_SETTINGS="project.config.ProductionConfig", SECRET_KEY="bench",
                      DATABASE_URL=database_url, LOG_LEVEL="WARNING")
    users_dir = Path(tree) / "services" / "users"
    sys.path.insert(0, str(users_dir))
    os.chdir(users_dir)


def measure(args):
    """In a child: load the apps, time each route, print {app: {route: us}} as JSON."""
    use_tree(args.measure, args.database_url)
    import flask_floor
    import floor
    import manage
    apps = {"service": manage.app, "Flask floor": flask_floor.app, "raw floor": floor.app}
    found = {}
    # Route by route, POST last: its new rows must not reach another app's list.
    for route, (name, app) in itertools.product(args.routes.split(","), apps.items()):
        count = max(1, args.requests // (20 if route == "list" else 1))
        make = requests_for(route, args.users, name.replace(" ", "-"))
        for n in range(min(count, 100)):
            call(app, make(-n - 1))
        started = time.process_time()
        for n in range(count):
            status = call(app, make(n))
        elapsed = time.process_time() - started
        if not status.startswith("20"):
            raise SystemExit(f"{name} answered {route} with {status}")
        found.setdefault(name, {})[route] = elapsed / count * 1e6
        if args.profile:
            stats = f"{Path(args.measure).name}-{name.replace(' ', '-')}-{route}.prof"
            profile(app, make, range(count, 2 * count), Path(args.profile) / stats)
    print(json.dumps(found))


def profile(app, make, numbers, path):
    """Send the requests `numbers` make under cProfile, after the timed ones; save the stats.

    The profiler counts CPU time, as the timings do: waiting on PostgreSQL is not the app's.
    """
    with cProfile.Profile(time.process_time) as profiler:
        for n in numbers:
            call(app, make(n))
    profiler.dump_stats(path)


def render(trees, best, routes):
    lines = ["| tree | app | " + " | ".join(f"{route} us" for route in routes) + " |",
             "| --- | --- |" + " ---: |" * len(routes)]
    for tree in trees:
        for app, times in best[tree].items():
            cells = [f"{times[route]:,.0f}" if route in times else "" for route in routes]
            lines.append(f"| {tree} | {app} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[],
                        help="another checkout to measure too (repeatable)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL + "_inprocess")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000, help="per route and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--profile", metavar="DIR",
                        help="after timing, send each app's route as many requests again "
                             "under cProfile and write DIR/TREE-APP-ROUTE.prof (the last "
                             "round's; read with python -m pstats)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        return measure(args)
    if args.profile:
        # Absolute: the children work from each tree's services/users.
        args.profile = str(Path(args.profile).resolve())
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    trees = [str(ROOT), *args.tree]
    best = {tree: {} for tree in trees}
    with Database(args.database_url) as database:
        database.migrate()
        database.grow_to(args.users)
        for _ in range(args.rounds):
            for tree in trees:
                child = subprocess.run(
                    [sys.executable, __file__, "--measure", tree, "--database-url",
                     args.database_url, "--users", str(args.users), "--requests",
                     str(args.requests), "--routes", args.routes,
                     *(["--profile", args.profile] if args.profile else [])],
                    capture_output=True, text=True, check=True, timeout=3600)
                found = json.loads(child.stdout.strip().splitlines()[-1])
                for app, times in found.items():
                    for route, us in times.items():
                        mine = best[tree].setdefault(app, {})
                        mine[route] = min(us, mine.get(route, us))
                database.keep_first(args.users)
    print(render(trees, best, args.routes.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
