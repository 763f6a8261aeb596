"""Mixed load on the users service from its own process: `python load.py URL SECONDS OUT`.

Threads send reads and writes in fixed proportions for SECONDS, each on a new connection,
and write to OUT (JSON) what came back: statuses per kind of request, answers that kind
should never get, socket errors, latencies, and the users it added. Bounded: it stops at
the deadline or after MAX_REQUESTS, whichever comes first.

The database holds SEEDED users `seed<id>` (`seed<id>@mherman.org`) with ids 1..SEEDED
before the run; reads of them must return exactly that user.
"""

import argparse
import collections
import json
import random
import threading
import time

from harness import request

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


class Load:
    def __init__(self, base_url, seconds, seeded, seed):
        self.base_url = base_url
        self.seeded = seeded
        self.deadline = time.monotonic() + seconds
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.sent = 0
        self.added = []
        self.next_user = 0
        self.statuses = collections.defaultdict(collections.Counter)
        self.unexpected = collections.Counter()
        self.socket_errors = collections.Counter()
        self.latencies = []

    def pick(self):
        with self.lock:
            if self.sent >= MAX_REQUESTS or time.monotonic() >= self.deadline:
                return None
            self.sent += 1
            kinds, weights = zip(*[(kind, weight) for kind, weight, _ in MIX])
            kind = self.random.choices(kinds, weights)[0]
            if kind == "add_user" and self.next_user >= MAX_NEW_USERS:
                kind = "add_duplicate"
            if kind == "add_user":
                self.next_user += 1
                return kind, self.next_user
            return kind, self.random.randint(1, self.seeded)

    def call(self, kind, argument):
        base = self.base_url
        if kind == "ping":
            return request("GET", base + "/users/ping")
        if kind == "ready":
            return request("GET", base + "/users/ready")
        if kind == "get_user":
            return request("GET", f"{base}/users/{argument}")
        if kind == "get_missing_user":
            return request("GET", f"{base}/users/{2_000_000_000 + argument}")
        if kind == "list_users":
            return request("GET", base + "/users")
        if kind == "page":
            return request("GET", base + "/")
        if kind == "add_user":
            name = f"soak{argument}"
            return post(base, name, f"{name}@mherman.org")
        if kind == "add_duplicate":
            return post(base, f"other{argument}", f"seed{argument}@mherman.org")
        return post(base, "invalid", "not-an-email")

    def is_expected(self, kind, argument, response, statuses):
        if response.status not in statuses:
            return False
        if kind == "get_user":
            try:
                user = response.json()["data"]
            except (ValueError, KeyError):
                return False
            return user == {"id": argument, "username": f"seed{argument}",
                            "email": f"seed{argument}@mherman.org", "active": True}
        return True

    def run_thread(self):
        allowed = {kind: statuses for kind, _, statuses in MIX}
        while (picked := self.pick()) is not None:
            kind, argument = picked
            try:
                response = self.call(kind, argument)
            except OSError as error:
                with self.lock:
                    self.socket_errors[type(error).__name__] += 1
                continue
            expected = self.is_expected(kind, argument, response, allowed[kind])
            with self.lock:
                self.statuses[kind][response.status] += 1
                self.latencies.append(response.elapsed)
                if not expected:
                    self.unexpected[f"{kind} {response.status}"] += 1
                if kind == "add_user" and response.status == 201:
                    self.added.append(f"soak{argument}")

    def report(self, seconds):
        latencies = sorted(self.latencies)

        def percentile(p):
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

        total = sum(sum(counter.values()) for counter in self.statuses.values())
        server_errors = sum(count for counter in self.statuses.values()
                            for status, count in counter.items() if status >= 500)
        return {
            "requests": total, "seconds": round(seconds, 1),
            "per_second": round(total / seconds), "server_errors": server_errors,
            "socket_errors": dict(self.socket_errors), "unexpected": dict(self.unexpected),
            "statuses": {kind: dict(counter) for kind, counter in self.statuses.items()},
            "added": sorted(self.added),
            "latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99),
                           "max": percentile(1.0)} if latencies else {},
        }


def post(base_url, username, email):
    return request("POST", base_url + "/users", json.dumps({"username": username,
                                                            "email": email}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("seconds", type=float)
    parser.add_argument("out")
    parser.add_argument("--seeded", type=int, required=True)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    load = Load(args.base_url, args.seconds, args.seeded, args.seed)
    started = time.monotonic()
    threads = [threading.Thread(target=load.run_thread) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(load.report(time.monotonic() - started), out, indent=2)


if __name__ == "__main__":
    main()
