"""Request IDs and access lines through nginx (prod.conf as the image fills it in).

The service under gunicorn (two workers) on a scratch database of the machine's
PostgreSQL, the client stand-in, and two nginx in front: one proxying to the service,
one to a port nothing listens on, with one sign-up a minute, whose client stand-in takes
a second over /slow. A client's well-formed X-Request-ID is kept, any other replaced by
nginx's own; either way the answer, nginx's access line and the service's carry the same
one, and nginx's lines are JSON with the route's template, never a path or an email.
"""

import json
import os
import re
import shutil
import time

import pytest

from conftest import APP_BIN
from harness.http import request
from harness.ports import free_port
from harness.processes import Processes, scratch_dir
from harness.servers import Gunicorn, migrate
from harness.waiting import wait_until
from nginx_site import ClientStandIn, nginx_output, serve, start_nginx
from scratch_postgres import psql_over_tcp
from topology import ProdServices

APP_PYTHON = str(APP_BIN / "python")
POSTGRES_PORT = 5432
DATABASE = f"users_reqid_{os.getpid()}"
MADE_ID = re.compile(r"[0-9a-f]{32}")
NGINX_FIELDS = {"time", "level", "logger", "message", "request_id", "method", "route",
                "status", "duration_ms", "upstream_addr", "upstream_status",
                "upstream_response_time"}
# prod.conf's route names: the service's templates, what it has no route for, the client.
ROUTES = {"/users", "/users/ping", "/users/ready", "/users/openapi.json", "/users/<user_id>",
          "unmatched", "client"}
SLOW_SECONDS = 1.1
JSON_HEADERS = {"Content-Type": "application/json"}


class SlowClientStandIn(ClientStandIn):
    """The client stand-in, taking a while over /slow."""

    def do_GET(self):
        if self.path == "/slow":
            time.sleep(SLOW_SECONDS)
        super().do_GET()


def psql(sql):
    """Run `sql` on the machine's PostgreSQL as postgres."""
    result = psql_over_tcp(POSTGRES_PORT, "postgres", None, "postgres", "-c", sql)
    assert result.returncode == 0, result.stderr


class Front:
    """The service, the client stand-ins and the two nginx: `start`, then `stop` whatever
    started."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.processes = Processes(log_dir / "nginx")
        self.work_dirs = []
        self.clients = [serve(ClientStandIn), serve(SlowClientStandIn)]
        self.service = None
        self.base_url = self.down_url = None

    def start(self, compose):
        psql(f'CREATE DATABASE "{DATABASE}"')
        url = f"postgresql://postgres@127.0.0.1:{POSTGRES_PORT}/{DATABASE}"
        migrate(url, python=APP_PYTHON)
        self.service = Gunicorn(url, self.log_dir, name="users-reqid", workers=2,
                                python=APP_PYTHON)
        self.service.start()
        environment = ProdServices(compose).environment("nginx")
        self.base_url = self.nginx(f"127.0.0.1:{self.service.port}", self.clients[0],
                                   environment)
        self.down_url = self.nginx(f"127.0.0.1:{free_port()}", self.clients[1], {
            **environment, "USERS_POST_RATE": "1r/m", "USERS_POST_BURST": "1"})

    def nginx(self, users, client, environment):
        """Start nginx before `users` and `client`; return its base URL."""
        work_dir = scratch_dir("stack-nginx-reqid-")
        self.work_dirs.append(work_dir)
        return start_nginx(self.processes, work_dir, {
            "users": users, "client": f"127.0.0.1:{client.server_port}"},
            environment=environment)

    def nginx_lines(self, base_url):
        """Every whole line the nginx at `base_url` has written to its stdout so far."""
        return nginx_output(self.processes, base_url).read_text().split("\n")[:-1]

    def nginx_line(self, base_url, request_id):
        """Wait for the nginx at `base_url` to log `request_id`; return its one line."""
        def logged():
            return [json.loads(line) for line in self.nginx_lines(base_url)
                    if f'"request_id":"{request_id}"' in line]
        (line,) = wait_until(logged, f"nginx's access line for {request_id}", 10)
        return line

    def service_line(self, request_id):
        """Wait for the service's access line for `request_id`; return it."""
        def logged():
            found = []
            for text in self.service.log_text().splitlines():
                try:
                    line = json.loads(text)
                except ValueError:
                    continue
                if (isinstance(line, dict) and line.get("logger") == "project.access"
                        and line.get("request_id") == request_id):
                    found.append(line)
            return found
        (line,) = wait_until(logged, f"the service's access line for {request_id}", 10)
        return line

    def stop(self):
        try:
            self.processes.stop_all()
            if self.service:
                self.service.stop()
            for client in self.clients:
                client.shutdown()
                client.server_close()
            for work_dir in self.work_dirs:
                shutil.rmtree(work_dir, ignore_errors=True)
        finally:
            psql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


@pytest.fixture(scope="module")
def front(compose, tmp_path_factory):
    front = Front(tmp_path_factory.mktemp("request-id-logs"))
    try:
        front.start(compose)
        yield front
    finally:
        front.stop()


def answered_id(response):
    """The answer's one X-Request-ID (an answer with none or two fails)."""
    values = response.headers.get_all("X-Request-ID") or []
    assert len(values) == 1, (response.status, values)
    return values[0]


@pytest.mark.parametrize("sent", ["checkout-42", "A" * 64, "a.b_c-D.9"])
def test_a_well_formed_request_id_is_kept(front, sent):
    """Ensure a well-formed X-Request-ID comes back unchanged and is in nginx's and the
    service's access lines for the request."""
    response = request(front.base_url + "/users/ping", headers={"X-Request-ID": sent})
    assert (response.status, answered_id(response)) == (200, sent)
    nginx = front.nginx_line(front.base_url, sent)
    assert (nginx["route"], nginx["status"], nginx["upstream_status"]) == (
        "/users/ping", 200, "200")
    service = front.service_line(sent)
    assert (service["route"], service["status"]) == ("/users/ping", 200)


@pytest.mark.parametrize("sent", [None, "", "A" * 65, "two words", "<script>", 'say"hi"',
                                  "semi;colon", "caf\u00e9"],
                         ids=["missing", "empty", "65 characters", "space", "angle brackets",
                              "quotes", "semicolon", "non-ascii"])
def test_any_other_request_id_is_replaced(front, sent):
    """Ensure a missing or malformed X-Request-ID is replaced by a new 32-hex one, the
    same on the answer and in nginx's and the service's access lines."""
    headers = {} if sent is None else {"X-Request-ID": sent}
    response = request(front.base_url + "/users/ping", headers=headers)
    made = answered_id(response)
    assert response.status == 200 and MADE_ID.fullmatch(made), made
    assert front.nginx_line(front.base_url, made)["route"] == "/users/ping"
    assert front.service_line(made)["route"] == "/users/ping"


def test_nginx_own_answers_carry_one_request_id(front):
    """Ensure nginx's own answers (413, 502, 429, 400) and the client's pages carry one
    X-Request-ID: the client's when well-formed, else nginx's, as its access line says."""
    post = {"method": "POST", "headers": JSON_HEADERS}
    body = json.dumps({"username": "limited", "email": "limited@reqid.example"})
    answers = {
        "413": request(front.base_url + "/users", body=b"x" * (65 * 1024), **post),
        "client page": request(front.base_url + "/"),
        "502": request(front.down_url + "/users/ping", headers={"X-Request-ID": "down-1"}),
        "502 (POST)": request(front.down_url + "/users", body=body, **post),
        "502 (POST, the burst)": request(front.down_url + "/users", body=body, **post),
        "429": request(front.down_url + "/users", body=body, **post),
        "400": request(front.base_url + "/", headers={"Host": "bad host"}),
    }
    assert {name: answer.status for name, answer in answers.items()} == {
        "413": 413, "client page": 200, "502": 502, "502 (POST)": 502,
        "502 (POST, the burst)": 502, "429": 429, "400": 400}
    ids = {name: answered_id(answer) for name, answer in answers.items()}
    assert ids["502"] == "down-1"
    made = {name: value for name, value in ids.items() if name != "502"}
    assert all(MADE_ID.fullmatch(value) for value in made.values()), made
    assert len(set(ids.values())) == len(ids), ids
    for name, request_id in ids.items():
        base_url = front.down_url if name.startswith(("502", "429")) else front.base_url
        assert front.nginx_line(base_url, request_id)["status"] == answers[name].status, name


def test_service_errors_carry_one_request_id(front):
    """Ensure the service's JSend 404 and 400 come through nginx with the one request ID
    sent, which nginx and the service both logged."""
    not_found = request(front.base_url + "/users/999999", headers={"X-Request-ID": "err-404"})
    invalid = request(front.base_url + "/users", "POST", "{}",
                      {**JSON_HEADERS, "X-Request-ID": "err-400"})
    assert (not_found.status, not_found.json()["status"], answered_id(not_found)) == (
        404, "fail", "err-404")
    assert (invalid.status, invalid.json()["status"], answered_id(invalid)) == (
        400, "fail", "err-400")
    assert front.nginx_line(front.base_url, "err-404")["route"] == "/users/<user_id>"
    assert front.service_line("err-404")["status"] == 404
    assert front.nginx_line(front.base_url, "err-400")["route"] == "/users"
    assert front.service_line("err-400")["status"] == 400


def test_duration_is_in_milliseconds(front):
    """Ensure duration_ms is $request_time in whole milliseconds over a second too."""
    response = request(front.down_url + "/slow", headers={"X-Request-ID": "slow-1"})
    assert (response.status, response.body) == (200, b"client stand-in: GET /slow")
    line = front.nginx_line(front.down_url, "slow-1")
    upstream_ms = round(float(line["upstream_response_time"]) * 1000)
    assert isinstance(line["duration_ms"], int), line
    assert 1000 <= line["duration_ms"] < 30_000, line
    # nginx reads its clock for each once, to the millisecond: they may differ by one.
    assert abs(line["duration_ms"] - upstream_ms) <= 1, line


def test_every_nginx_access_line_is_json_without_personal_data(front):
    """Ensure every line nginx writes is one JSON object with the service's fields, the
    route a template, and no email, whatever the path, query or body held."""
    lookup = request(front.base_url + "/users/someone@example.com?email=someone@example.com",
                     headers={"X-Request-ID": "email-path"})
    added = request(front.base_url + "/users", "POST", json.dumps({
        "username": "reqid-person", "email": "reqid-person@example.com"}),
        {**JSON_HEADERS, "X-Request-ID": "email-body"})
    assert (lookup.status, added.status) == (404, 201)
    assert front.nginx_line(front.base_url, "email-path")["route"] == "/users/<user_id>"
    assert front.nginx_line(front.base_url, "email-body")["route"] == "/users"
    assert "@" not in json.dumps([front.service_line("email-path"),
                                  front.service_line("email-body")])
    lines = front.nginx_lines(front.base_url) + front.nginx_lines(front.down_url)
    wrong = [text for text in lines if not well_formed_access_line(text)]
    assert lines and wrong == []


def well_formed_access_line(text):
    """Whether `text` is one of prod.conf's access lines, without an email."""
    try:
        line = json.loads(text)
    except ValueError:
        return False
    return (isinstance(line, dict) and set(line) == NGINX_FIELDS and "@" not in text
            and (line["level"], line["logger"]) == ("INFO", "nginx.access")
            and type(line["status"]) is int
            and type(line["duration_ms"]) in (int, float) and line["duration_ms"] >= 0
            and line["route"] in ROUTES
            and line["message"] == f'{line["method"]} {line["route"]} {line["status"]}'
            and all(isinstance(line[name], str) for name in
                    ("time", "request_id", "method", "upstream_addr", "upstream_status",
                     "upstream_response_time")))


def test_metrics_are_not_served_through_nginx(front):
    """Ensure GET /metrics through nginx reaches the client, never the service's metrics,
    which its own port does serve."""
    assert "users_http_requests_total" in request(front.service.metrics_url).body.decode()
    response = request(front.base_url + "/metrics")
    assert (response.status, response.body) == (200, b"client stand-in: GET /metrics")
    below_users = request(front.base_url + "/users/metrics")
    assert below_users.status == 404
    assert b"users_http_requests_total" not in below_users.body
