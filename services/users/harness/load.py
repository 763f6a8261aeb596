"""Reader and writer threads that keep the users service busy and record every answer.

Each thread sends one request at a time, each on a connection of its own, to one of the
base URLs it is given (thread i to base i modulo their number), while the `with` block
runs, for MAX_SECONDS at most. Load: readers GET one path again and again, writers add
new users whose usernames are unique to the run. SteadyLoad: paced, and its readers ask
for random seeded users and check the whole answer. InFlight: requests sent at once, one
thread each, whose answers are awaited by name.
"""

import json
import random
import threading
import time
from dataclasses import dataclass

from harness.http import request
from harness.waiting import wait_until

MAX_SECONDS = 300
# SteadyLoad's pace: one request per thread every INTERVAL seconds at most.
INTERVAL = 0.02
READ, WRITE = "read", "write"


@dataclass
class Answer:
    """One request: what was sent, what came back (or the socket error), when (monotonic)."""

    kind: str
    method: str
    url: str
    payload: dict | None
    started: float
    ended: float
    status: int | None = None
    body: bytes = b""
    error: str | None = None
    # Whether the answer is the one the request must get.
    correct: bool = False

    @property
    def elapsed(self):
        return self.ended - self.started

    @property
    def json(self):
        return json.loads(self.body)

    @property
    def username(self):
        return self.payload["username"] if self.payload else None

    @property
    def sent(self):
        """The (username, email) a write sent."""
        return (self.payload["username"], self.payload["email"]) if self.payload else None

    def overlaps(self, since, until):
        return self.started < until and self.ended > since

    def as_dict(self):
        return {"kind": self.kind, "started": round(self.started, 4),
                "elapsed_ms": round(self.elapsed * 1000, 1), "status": self.status,
                "correct": self.correct, **({"error": self.error} if self.error else {})}


class Load:
    """`readers` threads GET `read_path`, `writers` threads POST new users
    (`prefix-<thread>-<n>@domain`), `interval` seconds apart at least (0: back to back)."""

    def __init__(self, base_urls, read_path, readers=2, writers=2, prefix="load",
                 domain="fleet.example", interval=0.0, seconds=MAX_SECONDS):
        self.base_urls = list(base_urls)
        self.read_path = read_path
        self.prefix = prefix
        self.domain = domain
        self.interval = interval
        self.seconds = seconds
        self.kinds = [READ] * readers + [WRITE] * writers
        self.answers = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(index,), daemon=True)
                        for index in range(len(self.kinds))]

    def __enter__(self):
        self.started = time.monotonic()
        self.deadline = self.started + self.seconds
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        self.join()
        self.ended = time.monotonic()

    def join(self):
        """Wait for the threads to end (at the deadline, unless stopped before)."""
        for thread in self.threads:
            running = 0.0 if self.stopping.is_set() else self.deadline - time.monotonic()
            thread.join(timeout=max(0.0, running) + 60)
        assert not any(thread.is_alive() for thread in self.threads), "a load thread hung"

    def run(self, index):
        base_url = self.base_urls[index % len(self.base_urls)]
        number = 0
        while not self.stopping.is_set() and time.monotonic() < self.deadline:
            began = time.monotonic()
            planned = self.next_request(index, number)
            if planned is None:
                return
            self.record(self.send(base_url, *planned))
            number += 1
            if self.interval:
                self.stopping.wait(max(0.0, self.interval - (time.monotonic() - began)))

    def next_request(self, index, number):
        """Return thread `index`'s request `number` as (kind, method, path, payload, check),
        or None to end the thread; `check(answer)` says whether the answer is right."""
        if self.kinds[index] == READ:
            return READ, "GET", self.read_path, None, lambda answer: answer.status == 200
        username = f"{self.prefix}-{index}-{number}"
        return (WRITE, "POST", "/users", {"username": username,
                                          "email": f"{username}@{self.domain}"},
                lambda answer: answer.status == 201)

    def send(self, base_url, kind, method, path, payload, check):
        """Send one request; return its answer, judged by `check`."""
        answer = send(method, base_url + path, payload, kind)
        if answer.error is None:
            try:
                answer.correct = bool(check(answer))
            except (ValueError, KeyError, TypeError):
                answer.correct = False
        return answer

    def record(self, answer):
        with self.lock:
            self.answers.append(answer)

    def snapshot(self):
        """The answers so far."""
        with self.lock:
            return list(self.answers)

    def between(self, start, end=float("inf")):
        """The answers to requests sent from `start` until `end` (monotonic seconds)."""
        return [answer for answer in self.snapshot() if start <= answer.started < end]

    def wait_for_answers(self, count, timeout):
        """Wait until `count` more answers than now have come back."""
        target = len(self.snapshot()) + count
        wait_until(lambda: len(self.snapshot()) >= target, f"{count} more answers", timeout,
                   interval=0.05)


class SteadyLoad(Load):
    """A paced Load on one service: readers ask for `GET /users/<id>` of random seeded users
    (`seed<id>`, `seed<id>@mherman.org`, ids 1..`seeded`) and check the whole answer.

    The load stays the same whatever the latency, so that slow answers show as such.
    """

    def __init__(self, base_url, seeded, readers=2, writers=2, prefix="load", seed=12):
        super().__init__([base_url], None, readers, writers, prefix, "mherman.org", INTERVAL)
        self.seeded = seeded
        self.randoms = [random.Random(seed * 1000 + index) for index in range(readers)]

    def next_request(self, index, number):
        if self.kinds[index] == WRITE:
            return super().next_request(index, number)
        user_id = self.randoms[index].randint(1, self.seeded)
        expected = {"id": user_id, "username": f"seed{user_id}",
                    "email": f"seed{user_id}@mherman.org", "active": True}
        return (READ, "GET", f"/users/{user_id}", None,
                lambda answer: answer.status == 200 and answer.json["data"] == expected)


def new_user(username, domain="fleet.example"):
    """The payload that adds the user `username` (its email is unique with it)."""
    return {"username": username, "email": f"{username}@{domain}"}


def send(method, url, payload=None, kind=""):
    """Send one request (`payload` as JSON); return its Answer, or the socket error it
    ran into."""
    body = json.dumps(payload) if payload is not None else None
    started = time.monotonic()
    try:
        response = request(url, method, body, {"Content-Type": "application/json"})
    except OSError as failure:
        return Answer(kind, method, url, payload, started, time.monotonic(),
                      error=f"{type(failure).__name__}: {failure}")
    return Answer(kind, method, url, payload, started, time.monotonic(), response.status,
                  response.body)


class InFlight:
    """Requests sent at once, each on a thread of its own; their answers, as they come:
    for a test that must know exactly which requests were out at a moment."""

    def __init__(self):
        self.answers = {}
        self.lock = threading.Lock()
        self.threads = []

    def send(self, name, method, url, payload=None):
        """Send a request named `name` on a new thread; its answer goes to `answers[name]`."""
        def run():
            answer = send(method, url, payload)
            with self.lock:
                self.answers[name] = answer
        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def answered(self):
        """The answers so far, by name."""
        with self.lock:
            return dict(self.answers)

    def wait(self, timeout=60):
        """Wait for every answer; return them all, by name."""
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(timeout=max(0, deadline - time.monotonic()))
        assert not any(thread.is_alive() for thread in self.threads), "a request hung"
        return self.answered()


def statuses(answers, method=None):
    """Count the answers by status (None for a socket error), of one method or all."""
    counts = {}
    for answer in answers:
        if method is None or answer.method == method:
            counts[answer.status] = counts.get(answer.status, 0) + 1
    return counts


def latency_summary(answers):
    """Return count, p50, p99 and max latency (ms) of `answers`."""
    latencies = sorted(answer.elapsed for answer in answers)
    if not latencies:
        return {"requests": 0}
    return {"requests": len(latencies), "p50_ms": percentile(latencies, 0.5),
            "p99_ms": percentile(latencies, 0.99), "max_ms": percentile(latencies, 1.0)}


def percentile(latencies, p):
    """The `p` quantile of sorted `latencies` (seconds), in milliseconds."""
    return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)


def write_report(path, summary, answers):
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"summary": summary, "requests": [a.as_dict() for a in answers]}, out,
                  indent=1)
