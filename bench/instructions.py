"""Instructions per request of the WSGI apps called in-process, counted by callgrind.

On this machine's shared cores a served route's req/s moves by a tenth from run to run,
and an in-process timing almost as much; the instructions a request executes do not
(`valgrind --tool=callgrind` counts them whatever else the cores do). So a change of a
few percent in what the service's own code costs shows here, where `make bench` cannot
tell it from the noise. Only the Python process is counted: PostgreSQL's work, the
network and the server (gunicorn) are not, so these say what the app's code costs, not
how fast it is served.

Each figure is one app and one route: a child process (bench/inprocess.py's requests)
sends 200 requests to warm up and then `--base` or `--requests` more under callgrind;
the difference between the two counts, over the difference in requests, is a request's
cost, start-up and warm-up cancelling out. Children run side by side (the counts do not
depend on load). With `--tree`, other checkouts of the repository are counted too; the
Flask floor is this checkout's. Run it with the project's venv: `.venv/bin/python
bench/instructions.py --tree /tmp/old` (Debian's `valgrind` package).
"""

import argparse
import concurrent.futures
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from inprocess import ROUTES, call, requests_for, use_tree  # noqa: E402
from run import DEFAULT_DATABASE_URL, Database  # noqa: E402

ROOT_TREE = str(ROOT)
APPS = ("service", "Flask floor")
WARM_UP = 200
COLLECTED = re.compile(r"Collected : (\d+)")


def send(args):
    """In a child: load one app of one tree, warm it up, send `args.count` requests."""
    use_tree(args.send, args.database_url)
    if args.app == "service":
        from manage import app
    else:
        from flask_floor import app
    make = requests_for(args.route, args.users, f"{args.app}-{args.count}".replace(" ", "-"))
    for n in range(WARM_UP):
        call(app, make(-n - 1))
    for n in range(args.count):
        status = call(app, make(n))
    if args.count and not status.startswith("20"):
        raise SystemExit(f"{args.app} answered {args.route} with {status}")


def instructions(tree, app, route, count, args):
    """Count what a child sending `count` requests executes, in all."""
    with tempfile.TemporaryDirectory() as scratch:
        child = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={scratch}/out",
             sys.executable, __file__, "--send", tree, "--app", app, "--route", route,
             "--count", str(count), "--users", str(args.users),
             "--database-url", args.database_url],
            capture_output=True, text=True, timeout=3600)
    found = COLLECTED.search(child.stderr)
    if child.returncode or not found:
        raise SystemExit(f"callgrind of {app} ({tree}, {route}) failed:\n{child.stderr[-2000:]}")
    return int(found.group(1))


def per_request(job, args):
    tree, app, route = job
    low = instructions(tree, app, route, args.base, args)
    high = instructions(tree, app, route, args.requests, args)
    return job, (high - low) / (args.requests - args.base)


def render(trees, counts, routes):
    lines = ["| tree | app | " + " | ".join(f"{route} instructions" for route in routes)
             + " | " + " | ".join(f"{route} service/Flask floor" for route in routes) + " |",
             "| --- | --- |" + " ---: |" * (2 * len(routes))]
    for tree in trees:
        for app in APPS:
            if (tree, app, routes[0]) not in counts:
                continue
            cells = [f"{counts[tree, app, route]:,.0f}" for route in routes]
            ratios = ["" if app != "service" else
                      f"{counts[ROOT_TREE, 'Flask floor', route] / counts[tree, app, route]:.3f}"
                      for route in routes]
            lines.append(f"| {tree} | {app} | " + " | ".join(cells + ratios) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", default=[],
                        help="another checkout whose service to count too (repeatable)")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL + "_instructions")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=1200)
    parser.add_argument("--base", type=int, default=200,
                        help="the shorter child's requests, subtracted out")
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--send", help=argparse.SUPPRESS)
    parser.add_argument("--app", help=argparse.SUPPRESS)
    parser.add_argument("--route", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.send:
        return send(args)
    if args.requests <= args.base:
        parser.error("--requests must be more than --base")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is missing: apt-get install valgrind")
    routes = args.routes.split(",")
    trees = [ROOT_TREE, *args.tree]
    jobs = [(tree, app, route) for tree, app in itertools.product(trees, APPS)
            if app == "service" or tree == ROOT_TREE for route in routes]
    counts = {}
    with Database(args.database_url) as database:
        database.migrate()
        database.grow_to(args.users)
        # The POSTs last: their new users must not reach another app's list.
        reads = [job for job in jobs if job[2] != "post"]
        writes = [job for job in jobs if job[2] == "post"]
        with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
            for batch in (reads, writes):
                counts.update(pool.map(lambda job: per_request(job, args), batch))
    print(render(trees, counts, routes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
