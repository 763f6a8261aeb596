"""A minute of mixed reads and writes from a second process: no 5xx, no socket error,
nothing lost, and worker memory that levels off."""

import json
import statistics
import subprocess
import sys
import time

from conftest import artifact_path, seed_users, stored_users
from harness.servers import USERS_DIR

SECONDS = 60
SEEDED = 1000
SAMPLE_EVERY = 2.0
# Memory is compared between the run's second quarter (after warm-up) and its last quarter.
MAX_GROWTH_MIB = 5


def median_rss(samples, since, until):
    """Median resident size per worker (MiB) over the samples taken in [since, until)."""
    per_worker = {}
    for at, sizes in samples:
        if since <= at < until:
            for pid, size in sizes.items():
                per_worker.setdefault(pid, []).append(size / 2**20)
    return {pid: statistics.median(sizes) for pid, sizes in per_worker.items()}


def test_soak(serve, postgres, metrics):
    # Recycling workers (max_requests) would hide a leak: this run keeps the same workers.
    with serve("soak", workers=2, extra_args=("--max-requests", "0")) as (server, database):
        seed_users(postgres, database, SEEDED)
        workers = server.worker_pids()
        out = artifact_path("soak-load.json")
        load = subprocess.Popen([sys.executable, "-m", "harness.soak", server.base_url,
                                 str(SECONDS), out, "--seeded", str(SEEDED)], cwd=USERS_DIR)
        samples, started = [], time.monotonic()
        try:
            while load.poll() is None and time.monotonic() - started < SECONDS + 60:
                sizes = {pid: rss for pid, (rss, _) in server.worker_memory().items()}
                samples.append((time.monotonic() - started, sizes))
                time.sleep(SAMPLE_EVERY)
            assert load.wait(timeout=60) == 0
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
        assert server.worker_pids() == workers
        rows = stored_users(postgres, database)
    with open(out, encoding="utf-8") as report_file:
        report = json.load(report_file)

    assert report["server_errors"] == 0
    assert report["socket_errors"] == {}
    assert report["unexpected"] == {}
    assert report["requests"] > 5000
    added = {(name, f"{name}@mherman.org") for name in report["added"]}
    soaked = {row for row in rows if row[0].startswith("soak")}
    assert soaked == added
    assert len(rows) == SEEDED + len(added)

    warm = median_rss(samples, SECONDS / 4, SECONDS / 2)
    end = median_rss(samples, SECONDS * 3 / 4, SECONDS + 1)
    growth = {pid: round(end[pid] - warm[pid], 1) for pid in workers}
    assert max(growth.values()) < MAX_GROWTH_MIB, growth
    metrics["soak"] = {
        "seconds": report["seconds"], "requests": report["requests"],
        "per_second": report["per_second"], "server_errors": 0, "socket_errors": 0,
        "users_added": len(added), "latency_ms": report["latency_ms"],
        "worker_rss_mib_warm": [round(warm[pid], 1) for pid in workers],
        "worker_rss_mib_end": [round(end[pid], 1) for pid in workers],
        "worker_restarts": 0,
    }
