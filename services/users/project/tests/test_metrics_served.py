"""The metrics as production serves them: gunicorn with two workers, scraped on the
master's METRICS_PORT, summed over every worker, those that died included."""

import os
import signal
import socket
import subprocess
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor

from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from harness.http import request
from harness.servers import Gunicorn
from harness.waiting import wait_until
from project.tests.support import migrated_scratch_database

REQUESTS = "users_http_requests_total"
MISSING_USER = {"method": "GET", "route": "/users/<user_id>", "status": "404"}


def scrape(server):
    """Read the master's metrics: {(sample name, sorted labels): value}."""
    response = request(server.metrics_url)
    assert response.status == 200, response.status
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.body.decode())
            for s in family.samples}


def value(scraped, name, **labels):
    return scraped.get((name, tuple(sorted(labels.items()))), 0.0)


def counted_by_worker(server, pid):
    """What worker `pid` has counted of the missing-user requests, from its own file."""
    path = server.metrics_dir / f"counter_{pid}.db"
    if not path.exists():
        return 0.0
    for metric in MultiProcessCollector.merge([str(path)]):
        for s in metric.samples:
            if s.name == REQUESTS and s.labels == MISSING_USER:
                return s.value
    return 0.0


class TestMetricsOfTwoWorkers(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.database_url = migrated_scratch_database(cls, "metrics")
        log_dir = cls.enterClassContext(tempfile.TemporaryDirectory(prefix="metrics-"))
        cls.server = Gunicorn(cls.database_url, log_dir, workers=2).start()
        cls.addClassCleanup(cls.server.stop)
        cls.sent = 0

    def send_missing_user_requests(self, count):
        """GET count unknown users, eight at a time; each must be the JSend 404."""
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda i: request(f"{self.server.base_url}/users/9{i}")
                                     .status, range(count)))
        self.assertEqual(statuses, [404] * count)
        type(self).sent += count

    def settled_scrape(self):
        """Scrape once every request sent is counted and none is in flight (bounded).

        A worker counts a request when it has sent the answer, so the client may read the
        answer a moment before the count lands.
        """
        def settled():
            scraped = scrape(self.server)
            done = (value(scraped, REQUESTS, **MISSING_USER) == self.sent
                    and value(scraped, "users_http_requests_in_flight") == 0)
            return scraped if done else None
        return wait_until(settled, lambda: f"the scrape counting {self.sent} requests", 20,
                          self.server.process)

    def until_both_workers_served(self):
        """Send requests until each worker has counted some (bounded)."""
        def both_served():
            self.send_missing_user_requests(20)
            pids = self.server.worker_pids()
            return len(pids) == 2 and all(counted_by_worker(self.server, pid) for pid in pids)
        wait_until(both_served, "both workers answering", 60, self.server.process)

    def test_1_scrape_sums_every_worker_exactly(self):
        """Ensure the scrape is the sum of both workers' counts, request for request."""
        self.until_both_workers_served()
        scraped = self.settled_scrape()
        by_worker = [counted_by_worker(self.server, pid) for pid in self.server.worker_pids()]
        self.assertEqual(value(scraped, REQUESTS, **MISSING_USER), self.sent)
        self.assertEqual(sum(by_worker), self.sent)
        self.assertTrue(all(by_worker), by_worker)
        self.assertEqual(value(scraped, "users_http_request_duration_seconds_count",
                               method="GET", route="/users/<user_id>"), self.sent)
        self.assertEqual(value(scraped, "users_http_request_duration_seconds_bucket",
                               method="GET", route="/users/<user_id>", le="+Inf"), self.sent)
        self.assertEqual(value(scraped, "users_http_requests_in_flight"), 0)
        self.assertFalse([key for key in scraped if "/users/9" in str(key)])

    def test_2_workers_that_die_lose_no_count_and_leave_no_files(self):
        """Ensure killed workers' counts stay in the scrape and their files go."""
        self.until_both_workers_served()
        killed = []
        for _ in range(3):
            self.settled_scrape()  # what the victim answered is counted before it dies
            victim = self.server.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)
            wait_until(lambda: len(self.server.worker_pids()) == 2
                       and victim not in self.server.worker_pids(),
                       "gunicorn replacing the killed worker", 30, self.server.process)
            self.send_missing_user_requests(10)
        scraped = self.settled_scrape()
        self.assertEqual(value(scraped, REQUESTS, **MISSING_USER), self.sent)
        self.assertEqual(value(scraped, "users_http_request_duration_seconds_count",
                               method="GET", route="/users/<user_id>"), self.sent)
        self.assertEqual(value(scraped, "users_http_requests_in_flight"), 0)
        alive = {self.server.process.pid, *self.server.worker_pids()}
        owners = {int(path.stem.rsplit("_", 1)[1]) for path in self.server.metrics_dir.iterdir()}
        self.assertLessEqual(owners, alive)
        self.assertFalse(owners & set(killed))

    def test_3_the_service_port_has_no_metrics(self):
        """Ensure /metrics is the master's port only, not a route of the service."""
        self.assertEqual(request(f"{self.server.base_url}/metrics").status, 404)
        self.assertNotEqual(self.server.metrics_port, self.server.port)


class TestMetricsSettings(unittest.TestCase):
    """gunicorn refuses to start without what the metrics need, in one line."""

    def start_failing(self, **environment):
        with tempfile.TemporaryDirectory(prefix="metrics-") as log_dir:
            server = Gunicorn("postgresql://postgres@127.0.0.1:5432/unused", log_dir,
                              **environment)
            result = subprocess.run(server.command(), cwd=server.chdir, env=server.env,
                                    capture_output=True, text=True, timeout=60, check=False)
        self.assertNotEqual(result.returncode, 0)
        return [line for line in result.stderr.splitlines() if line.startswith("Error:")]

    def test_no_directory(self):
        self.assertEqual(self.start_failing(PROMETHEUS_MULTIPROC_DIR=""), [
            "Error: PROMETHEUS_MULTIPROC_DIR must name a directory for the workers' metrics "
            "under gunicorn (or set METRICS=off)."])

    def test_port_taken(self):
        with socket.create_server(("127.0.0.1", 0)) as taken:
            port = taken.getsockname()[1]
            self.assertEqual(self.start_failing(METRICS_PORT=str(port)), [
                f"Error: METRICS_PORT {port} cannot be served: Address already in use."])

    def test_bad_port(self):
        self.assertEqual(self.start_failing(METRICS_PORT="ninety"), [
            "Error: METRICS_PORT must be a whole number, not 'ninety'."])


if __name__ == "__main__":
    unittest.main()
