"""nginx at the edge (prod.conf as the image fills it in): the sign-up limit and the
security headers on every answer it gives.

One users replica through PgBouncer behind nginx, and the client stand-in. nginx runs
compose's defaults (30 sign-ups a minute per address, a burst of 10) unless a test
gives its own.
"""

import json
import shutil
import threading

import pytest

from harness.http import request
from harness.ports import free_port
from harness.processes import Processes, scratch_dir
from nginx_site import ClientStandIn, serve, start_nginx
from topology import database_behind_pgbouncer

TOO_MANY = {"status": "fail",
            "message": "Too many sign-ups from this address. Please try again later."}
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "strict-origin-when-cross-origin",
                    "Content-Security-Policy": "frame-ancestors 'none'",
                    "X-Frame-Options": "DENY"}
BURST = 10


class Edge:
    """A database, one replica, the client stand-in, and nginx instances in front."""

    def __init__(self, topology, log_dir):
        self.topology = topology
        self.processes = Processes(log_dir)
        self.client = serve(ClientStandIn)
        self.replica = topology.start_replica("edge", f"127.0.0.1:{free_port()}")
        topology.wait_for_replica(self.replica)
        self.work_dirs = []
        self.sent = 0

    def nginx(self, users=None, **settings):
        """Start nginx before the replica (or `users`) with compose's environment plus
        `settings`; return its base URL."""
        work_dir = scratch_dir("stack-nginx-edge-")
        self.work_dirs.append(work_dir)
        environment = {**self.topology.services.environment("nginx"), **settings}
        return start_nginx(self.processes, work_dir, {
            "users": users or self.replica.url.removeprefix("http://"),
            "client": f"127.0.0.1:{self.client.server_port}"}, environment=environment)

    def new_user(self):
        self.sent += 1
        name = f"edge-{self.sent}"
        return json.dumps({"username": name, "email": f"{name}@edge.example"}).encode()

    def stop(self):
        self.processes.stop_all()
        self.client.shutdown()
        self.client.server_close()
        for work_dir in self.work_dirs:
            shutil.rmtree(work_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def edge(compose, tmp_path_factory):
    with database_behind_pgbouncer(compose, tmp_path_factory.mktemp("edge-logs")) as topology:
        edge = Edge(topology, tmp_path_factory.mktemp("edge-nginx-logs"))
        try:
            yield edge
        finally:
            edge.stop()


def post_at_once(edge, url, count, **options):
    """POST `count` new users at the same moment; return their answers."""
    bodies = [edge.new_user() for _ in range(count)]
    answers = [None] * count
    barrier = threading.Barrier(count)

    def send(index):
        barrier.wait(timeout=30)
        answers[index] = request(url, "POST", bodies[index],
                                 {"Content-Type": "application/json"}, **options)

    threads = [threading.Thread(target=send, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def statuses(answers):
    counts = {}
    for answer in answers:
        counts[answer.status] = counts.get(answer.status, 0) + 1
    return counts


def test_sign_ups_are_limited_per_address_and_reads_are_not(edge):
    """Ensure a burst of sign-ups from one address gets exactly the burst and one more
    through, the rest a JSend 429 with Retry-After; reads, a spoofed X-Forwarded-For or
    X-Real-IP change nothing, and another address has its own allowance."""
    base_url = edge.nginx()
    answers = post_at_once(edge, base_url + "/users", 25)
    assert statuses(answers) == {201: BURST + 1, 429: 25 - BURST - 1}
    for answer in answers:
        if answer.status == 429:
            assert answer.headers.get_content_type() == "application/json"
            assert answer.json() == TOO_MANY and answer.headers["Retry-After"] == "60"
    reads = [request(base_url + "/users").status for _ in range(30)]
    assert reads == [200] * 30
    spoofed = [request(base_url + "/users", "POST", edge.new_user(), {
        "Content-Type": "application/json", "X-Forwarded-For": f"203.0.113.{number}",
        "X-Real-IP": f"203.0.113.{number}"}).status for number in range(5)]
    assert spoofed == [429] * 5
    elsewhere = post_at_once(edge, base_url + "/users", 3, source="127.0.0.5")
    assert statuses(elsewhere) == {201: 3}


def test_the_limit_comes_from_the_environment(edge):
    """Ensure USERS_POST_RATE and USERS_POST_BURST set nginx's limit."""
    base_url = edge.nginx(USERS_POST_RATE="1r/m", USERS_POST_BURST="2")
    assert statuses(post_at_once(edge, base_url + "/users", 8)) == {201: 3, 429: 5}


def test_a_person_using_the_client_page_is_never_limited(edge):
    """Ensure the page's own use, a person adding users one after another and the page
    listing them again after each, never meets the limit."""
    base_url = edge.nginx()
    for _ in range(BURST):
        assert request(base_url + "/").status == 200
        assert request(base_url + "/users").status == 200
        assert request(base_url + "/users", "POST", edge.new_user(),
                       {"Content-Type": "application/json"}).status == 201
    assert request(base_url + "/users").status == 200


def test_every_answer_carries_the_security_headers(edge):
    """Ensure the client page, a static file, the API, its errors and nginx's own error
    pages (413, 429, 502, 400) carry nosniff, one referrer policy and frame protection,
    each header once."""
    base_url = edge.nginx(USERS_POST_RATE="1r/m", USERS_POST_BURST="1")
    down_url = edge.nginx(users=f"127.0.0.1:{free_port()}")
    answers = {
        "client page": request(base_url + "/"),
        "static file": request(base_url + "/assets/index.js"),
        "ping": request(base_url + "/users/ping"),
        "app 404": request(base_url + "/users/999999"),
        "nginx 413": request(base_url + "/users", "POST", b"x" * (65 * 1024),
                             {"Content-Type": "application/json"}),
        "app 201": request(base_url + "/users", "POST", edge.new_user(),
                           {"Content-Type": "application/json"}),
        "app 201 (the burst)": request(base_url + "/users", "POST", edge.new_user(),
                                       {"Content-Type": "application/json"}),
        "nginx 429": request(base_url + "/users", "POST", edge.new_user(),
                             {"Content-Type": "application/json"}),
        "nginx 502": request(down_url + "/users/ping"),
        "nginx 400": request(base_url + "/", headers={"Host": "bad host"}),
    }
    assert {name: response.status for name, response in answers.items()} == {
        "client page": 200, "static file": 200, "ping": 200, "app 404": 404,
        "nginx 413": 413, "app 201": 201, "app 201 (the burst)": 201, "nginx 429": 429,
        "nginx 502": 502, "nginx 400": 400}
    wrong = {}
    for name, response in answers.items():
        values = {header: response.headers.get_all(header) or []
                  for header in SECURITY_HEADERS}
        framing = values["Content-Security-Policy"] + values["X-Frame-Options"]
        if (values["X-Content-Type-Options"] != ["nosniff"]
                or len(values["Referrer-Policy"]) != 1
                or not any("frame-ancestors 'none'" in value or value == "DENY"
                           for value in framing)
                or any(len(found) > 1 for found in values.values())):
            wrong[name] = values
    assert wrong == {}
    # Where nginx answers itself or the client answers, nginx's own; the service's stay.
    assert {header: answers["nginx 502"].headers[header] for header in SECURITY_HEADERS} == \
        SECURITY_HEADERS
    assert answers["ping"].headers["Referrer-Policy"] == "no-referrer"
