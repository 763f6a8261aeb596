"""A steady, paced load of reads and writes from threads, every request's answer recorded.

Readers ask for `GET /users/<id>` of seeded users (`seed<id>`, ids 1..seeded) and check
the body; writers `POST /users` new users with unique names. Each thread sends one
request every INTERVAL seconds at most (the load stays the same whatever the latency),
each on a new connection, until stopped; bounded by MAX_SECONDS and MAX_PER_THREAD.
"""

import json
import random
import threading
import time

from harness import post_user, request

INTERVAL = 0.02
MAX_SECONDS = 300
MAX_PER_THREAD = 20_000


class Answer:
    """One request: what was sent, what came back, when (monotonic) and how long it took."""

    def __init__(self, kind, started, elapsed, status, correct, sent=None):
        self.kind = kind
        self.started = started
        self.elapsed = elapsed
        self.status = status
        self.correct = correct
        self.sent = sent

    @property
    def ended(self):
        return self.started + self.elapsed

    def overlaps(self, since, until):
        return self.started < until and self.ended > since

    def as_dict(self):
        return {"kind": self.kind, "started": round(self.started, 4),
                "elapsed_ms": round(self.elapsed * 1000, 1), "status": self.status,
                "correct": self.correct}


class SteadyLoad:
    """`readers` + `writers` threads against `base_url`; a context manager that runs them."""

    def __init__(self, base_url, seeded, readers=2, writers=2, prefix="load", seed=12):
        self.base_url = base_url
        self.seeded = seeded
        self.prefix = prefix
        self.seed = seed
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.answers = []
        self.threads = ([threading.Thread(target=self.read, args=(n,), daemon=True)
                         for n in range(readers)]
                        + [threading.Thread(target=self.write, args=(n,), daemon=True)
                           for n in range(writers)])

    def __enter__(self):
        self.deadline = time.monotonic() + MAX_SECONDS
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads), "a load thread hung"

    def paced(self):
        """Yield request numbers, one per INTERVAL at most, until stopped or bounded."""
        for number in range(MAX_PER_THREAD):
            if self.stop.is_set() or time.monotonic() > self.deadline:
                return
            began = time.monotonic()
            yield number
            self.stop.wait(max(0.0, INTERVAL - (time.monotonic() - began)))

    def record(self, kind, started, send, check, sent=None):
        try:
            response = send()
            answer = Answer(kind, started, response.elapsed, response.status,
                            answers_well(check, response), sent)
        except OSError as error:
            answer = Answer(kind, started, time.monotonic() - started,
                            f"socket: {type(error).__name__}", False, sent)
        with self.lock:
            self.answers.append(answer)

    def read(self, thread):
        rng = random.Random(self.seed * 1000 + thread)
        for _ in self.paced():
            user_id = rng.randint(1, self.seeded)
            expected = {"id": user_id, "username": f"seed{user_id}",
                        "email": f"seed{user_id}@mherman.org", "active": True}
            self.record("read", time.monotonic(),
                        lambda: request("GET", f"{self.base_url}/users/{user_id}"),
                        lambda response: response.status == 200
                        and response.json()["data"] == expected)

    def write(self, thread):
        for number in self.paced():
            username = f"{self.prefix}-{thread}-{number}"
            email = f"{username}@mherman.org"
            self.record("write", time.monotonic(),
                        lambda: post_user(self.base_url, username, email),
                        lambda response: response.status == 201, sent=(username, email))

    def snapshot(self):
        with self.lock:
            return list(self.answers)

    def wait_for_answers(self, count, timeout):
        """Wait until `count` more answers than now have come back."""
        target = len(self.snapshot()) + count
        deadline = time.monotonic() + timeout
        while len(self.snapshot()) < target:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{count} answers not in within {timeout} s")
            time.sleep(0.05)


def answers_well(check, response):
    try:
        return bool(check(response))
    except (ValueError, KeyError, TypeError):
        return False


def latency_summary(answers):
    """Return count, p50, p99 and max latency (ms) of `answers`."""
    latencies = sorted(answer.elapsed for answer in answers)
    if not latencies:
        return {"requests": 0}

    def percentile(p):
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 1)

    return {"requests": len(latencies), "p50_ms": percentile(0.5), "p99_ms": percentile(0.99),
            "max_ms": percentile(1.0)}


def write_report(path, summary, answers):
    with open(path, "w", encoding="utf-8") as out:
        json.dump({"summary": summary, "requests": [a.as_dict() for a in answers]}, out,
                  indent=1)
