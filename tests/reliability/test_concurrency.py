"""Simultaneous requests: one winner per email or username; distinct users all kept."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import stored_users
from harness.http import post_user

CLIENTS = 48
ROUNDS = 5
WORKERS = 4


@pytest.fixture(scope="module")
def service(serve):
    with serve("concurrency", workers=WORKERS) as (server, database):
        yield server, database


def simultaneously(count, send):
    """Run `send(n)` for n in range(count) on as many threads, released together."""
    barrier = threading.Barrier(count, timeout=30)

    def release_then_send(n):
        barrier.wait()
        return send(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(release_then_send, range(count)))


@pytest.mark.parametrize("field", ["email", "username"])
def test_one_winner_for_the_same_value(service, postgres, metrics, field):
    server, database = service
    duplicates = 0
    for round_number in range(ROUNDS):
        same = f"same-{field}-{round_number}"

        def send(n):
            username = same if field == "username" else f"{same}-user{n}"
            email = f"{same}@mherman.org" if field == "email" else f"{same}-{n}@mherman.org"
            response = post_user(server.base_url, username, email)
            return response.status, response.json()["message"]

        results = simultaneously(CLIENTS, send)
        statuses = sorted(status for status, _ in results)
        assert statuses == [201] + [400] * (CLIENTS - 1)
        messages = {message for status, message in results if status == 400}
        assert messages == {f"Sorry. That {field} already exists."}
        duplicates += CLIENTS - 1
    rows = stored_users(postgres, database)
    values = [username if field == "username" else email for username, email in rows]
    for round_number in range(ROUNDS):
        same = f"same-{field}-{round_number}"
        expected = same if field == "username" else f"{same}@mherman.org"
        assert values.count(expected) == 1
    metrics[f"same_{field}"] = {"rounds": ROUNDS, "simultaneous_posts": CLIENTS * ROUNDS,
                                "created_201": ROUNDS, "refused_400": duplicates}


def test_distinct_users_all_kept(service, postgres, metrics):
    server, database = service
    users = [(f"distinct{n}", f"distinct{n}@mherman.org") for n in range(CLIENTS * ROUNDS)]
    statuses = []
    for round_number in range(ROUNDS):
        batch = users[round_number * CLIENTS:(round_number + 1) * CLIENTS]
        statuses += simultaneously(
            CLIENTS, lambda n, batch=batch: post_user(server.base_url, *batch[n]).status)
    assert statuses == [201] * len(users)
    stored = [row for row in stored_users(postgres, database) if row[0].startswith("distinct")]
    assert sorted(stored) == sorted(users)
    metrics["distinct_users"] = {"simultaneous_posts": len(users), "created_201": len(users),
                                 "stored": len(stored)}
