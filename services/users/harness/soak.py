"""The soak's mixed load, from a process of its own: `python -m harness.soak URL SECONDS OUT`.

Threads send reads and writes in fixed proportions for SECONDS, each on a new connection,
and write to OUT (JSON) what came back: statuses per kind of request, answers that kind
should never get, socket errors, latencies, and the users it added. Bounded: it stops at
the deadline or after MAX_REQUESTS, whichever comes first. Counted as they come, not
kept: a soak's answers would not fit in memory.

The database holds SEEDED users `seed<id>` (`seed<id>@mherman.org`) with ids 1..SEEDED
before the run; reads of them must return exactly that user.
"""

import argparse
import collections
import json
import random

from harness.load import Load, percentile

THREADS = 8
MAX_REQUESTS = 200_000
# Users added during the run, at most: past it, "new" users become duplicates.
MAX_NEW_USERS = 1500
# (kind, weight, statuses it may get)
MIX = [
    ("ping", 10, {200}),
    ("ready", 5, {200}),
    ("get_user", 35, {200}),
    ("get_missing_user", 5, {404}),
    ("list_users", 3, {200}),
    ("page", 2, {200}),
    ("add_user", 20, {201}),
    ("add_duplicate", 10, {400}),
    ("add_invalid", 10, {400}),
]
ALLOWED = {kind: statuses for kind, _, statuses in MIX}


class MixedLoad(Load):
    """THREADS threads, each request a kind drawn from MIX by one seeded random sequence."""

    def __init__(self, base_url, seconds, seeded, seed):
        super().__init__([base_url], None, readers=THREADS, writers=0, seconds=seconds)
        self.seeded = seeded
        self.random = random.Random(seed)
        self.picked = 0
        self.next_user = 0
        self.statuses = collections.defaultdict(collections.Counter)
        self.unexpected = collections.Counter()
        self.socket_errors = collections.Counter()
        self.latencies = []
        self.added = []

    def next_request(self, index, number):
        with self.lock:
            if self.picked >= MAX_REQUESTS:
                return None
            self.picked += 1
            kinds, weights = zip(*[(kind, weight) for kind, weight, _ in MIX])
            kind = self.random.choices(kinds, weights)[0]
            if kind == "add_user" and self.next_user >= MAX_NEW_USERS:
                kind = "add_duplicate"
            if kind == "add_user":
                self.next_user += 1
                argument = self.next_user
            else:
                argument = self.random.randint(1, self.seeded)
        method, path, payload = request_for(kind, argument)
        return kind, method, path, payload, checker(kind, argument)

    def record(self, answer):
        with self.lock:
            if answer.error:
                self.socket_errors[answer.error.split(":", 1)[0]] += 1
                return
            self.statuses[answer.kind][answer.status] += 1
            self.latencies.append(answer.elapsed)
            if not answer.correct:
                self.unexpected[f"{answer.kind} {answer.status}"] += 1
            if answer.kind == "add_user" and answer.status == 201:
                self.added.append(answer.username)

    def report(self):
        seconds = self.ended - self.started
        latencies = sorted(self.latencies)
        total = sum(sum(counter.values()) for counter in self.statuses.values())
        server_errors = sum(count for counter in self.statuses.values()
                            for status, count in counter.items() if status >= 500)
        return {
            "requests": total, "seconds": round(seconds, 1),
            "per_second": round(total / seconds), "server_errors": server_errors,
            "socket_errors": dict(self.socket_errors), "unexpected": dict(self.unexpected),
            "statuses": {kind: dict(counter) for kind, counter in self.statuses.items()},
            "added": sorted(self.added),
            "latency_ms": {"p50": percentile(latencies, 0.5),
                           "p99": percentile(latencies, 0.99),
                           "max": percentile(latencies, 1.0)} if latencies else {},
        }


def request_for(kind, argument):
    """Return (method, path, payload) of a request of `kind`."""
    if kind == "ping":
        return "GET", "/users/ping", None
    if kind == "ready":
        return "GET", "/users/ready", None
    if kind == "get_user":
        return "GET", f"/users/{argument}", None
    if kind == "get_missing_user":
        return "GET", f"/users/{2_000_000_000 + argument}", None
    if kind == "list_users":
        return "GET", "/users", None
    if kind == "page":
        return "GET", "/", None
    if kind == "add_user":
        name = f"soak{argument}"
        return "POST", "/users", {"username": name, "email": f"{name}@mherman.org"}
    if kind == "add_duplicate":
        return "POST", "/users", {"username": f"other{argument}",
                                  "email": f"seed{argument}@mherman.org"}
    return "POST", "/users", {"username": "invalid", "email": "not-an-email"}


def checker(kind, argument):
    """Return the check of an answer to a request of `kind`: a status it may get, and for
    a seeded user, exactly that user."""
    def check(answer):
        if answer.status not in ALLOWED[kind]:
            return False
        if kind == "get_user":
            return answer.json["data"] == {"id": argument, "username": f"seed{argument}",
                                           "email": f"seed{argument}@mherman.org",
                                           "active": True}
        return True
    return check


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("seconds", type=float)
    parser.add_argument("out")
    parser.add_argument("--seeded", type=int, required=True)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    load = MixedLoad(args.base_url, args.seconds, args.seeded, args.seed)
    with load:
        load.join()
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(load.report(), out, indent=2)


if __name__ == "__main__":
    main()
