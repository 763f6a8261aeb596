"""Client threads that keep the users service busy and record every answer.

Each thread sends one request at a time, on a connection of its own, to one of the base
URLs it is given (thread i to base i modulo their number): a reader asks again and again
for one existing user, a writer adds new users whose usernames are unique to the run.
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
                answer = self.send("GET", base_url + self.read_path)
            else:
                username = f"{self.prefix}-{index}-{sent}"
                answer = self.send("POST", base_url + "/users", username=username, payload={
                    "username": username, "email": f"{username}@fleet.example"})
            sent += 1
            with self.lock:
                self.answers.append(answer)
            self.stopping.wait(self.pause)

    def send(self, method, url, username=None, payload=None):
        """Send one request; record its answer, or the socket error it ran into."""
        body = json.dumps(payload).encode() if payload is not None else None
        started = time.monotonic()
        try:
            status, _, data = self.request(url, method, body,
                                           {"Content-Type": "application/json"})
            error = None
        except OSError as failure:
            status, data, error = None, b"", f"{type(failure).__name__}: {failure}"
        return Answer(method, url, username, payload, status, data, started, time.monotonic(),
                      error)

    def between(self, start, end=float("inf")):
        """The answers to requests sent from `start` until `end` (monotonic seconds)."""
        with self.lock:
            return [answer for answer in self.answers if start <= answer.started < end]


def statuses(answers, method=None):
    """Count the answers by status (None for a socket error), of one method or all."""
    counts = {}
    for answer in answers:
        if method is None or answer.method == method:
            counts[answer.status] = counts.get(answer.status, 0) + 1
    return counts
