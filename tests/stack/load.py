"""Client threads that keep the users service busy and record every answer.

Each thread sends one request at a time, on a connection of its own, to one of the base
URLs it is given (thread i to base i modulo their number): a reader asks again and again
for one existing user, a writer adds new users whose usernames are unique to the run.
Besides the load: requests sent at once, one thread each, whose answers are awaited
(InFlight), for a test that must know exactly which requests were out at a moment.
"""

import json
import threading
import time
from dataclasses import dataclass


@dataclass
class Answer:
    method: str
    url: str
    username: str | None
    payload: dict | None
    status: int | None
    body: bytes
    started: float
    ended: float
    error: str | None = None

    @property
    def json(self):
        return json.loads(self.body)


class Load:
    """`readers` threads GET `read_path`, `writers` threads POST new users, until stopped;
    each waits `pause` s between its requests."""

    def __init__(self, base_urls, read_path, readers, writers, prefix, request, pause=0.0):
        self.base_urls = list(base_urls)
        self.pause = pause
        self.read_path = read_path
        self.prefix = prefix
        self.request = request
        self.answers = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        kinds = ["reader"] * readers + ["writer"] * writers
        self.threads = [threading.Thread(target=self.run, args=(index, kind), daemon=True)
                        for index, kind in enumerate(kinds)]

    def __enter__(self):
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads), "a load thread hung"
        self.ended = time.monotonic()

    def run(self, index, kind):
        base_url = self.base_urls[index % len(self.base_urls)]
        sent = 0
        while not self.stopping.is_set():
            if kind == "reader":
                answer = send(self.request, "GET", base_url + self.read_path)
            else:
                username = f"{self.prefix}-{index}-{sent}"
                answer = send(self.request, "POST", base_url + "/users", username,
                              new_user(username))
            sent += 1
            with self.lock:
                self.answers.append(answer)
            self.stopping.wait(self.pause)

    def between(self, start, end=float("inf")):
        """The answers to requests sent from `start` until `end` (monotonic seconds)."""
        with self.lock:
            return [answer for answer in self.answers if start <= answer.started < end]


def new_user(username):
    """The payload that adds the user `username` (its email is unique with it)."""
    return {"username": username, "email": f"{username}@fleet.example"}


def send(request, method, url, username=None, payload=None):
    """Send one request with `request`; return its answer, or the socket error it ran into."""
    body = json.dumps(payload).encode() if payload is not None else None
    started = time.monotonic()
    try:
        status, _, data = request(url, method, body, {"Content-Type": "application/json"})
        error = None
    except OSError as failure:
        status, data, error = None, b"", f"{type(failure).__name__}: {failure}"
    return Answer(method, url, username, payload, status, data, started, time.monotonic(),
                  error)


class InFlight:
    """Requests sent at once, each on a thread of its own; their answers, as they come."""

    def __init__(self, request):
        self.request = request
        self.answers = {}
        self.lock = threading.Lock()
        self.threads = []

    def send(self, name, method, url, username=None, payload=None):
        """Send a request named `name` on a new thread; its answer goes to `answers[name]`."""
        def run():
            answer = send(self.request, method, url, username, payload)
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
