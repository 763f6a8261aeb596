"""Schemathesis fuzzes every described operation of the served app against its description."""

import json
import os
import subprocess
import sys

from conftest import USERS_DIR, artifact_path
from harness.http import request

SCHEMATHESIS = os.path.join(os.path.dirname(sys.executable), "schemathesis")
HOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis_hooks.py")
MAX_EXAMPLES = 300
# Everything Schemathesis checks, but two checks whose premise this API does not share:
# positive_data_acceptance wants every schema-valid body accepted, yet a valid body may
# repeat a username or email already added (a 400 by design, the database decides);
# negative_data_rejection wants every schema-invalid body refused, yet fields are trimmed
# before their length is checked, so " " + 128 characters is accepted as it should be.
EXCLUDED_CHECKS = "positive_data_acceptance,negative_data_rejection"
# Operations with inputs must each get a few hundred requests, some of them accepted;
# the others have exactly one request to send (plus their place in stateful sequences).
INPUT_OPERATIONS = ("POST /users", "POST /", "GET /users/{user_id}", "GET /users", "GET /")
MIN_REQUESTS = 200
MIN_ACCEPTED = 30


def test_fuzz_every_operation(serve, metrics, capsys):
    with serve("schemathesis", workers=2) as (server, _):
        served = request(server.base_url + "/users/openapi.json")
        assert served.status == 200
        with open(os.path.join(USERS_DIR, "project", "openapi.json"), "rb") as packaged:
            assert json.loads(served.body) == json.loads(packaged.read())
        spec_path = artifact_path("openapi-served.json")
        with open(spec_path, "wb") as spec:
            spec.write(served.body)
        report_path = artifact_path("schemathesis-report.json")
        har_path = artifact_path("schemathesis-requests.har")
        command = [SCHEMATHESIS, "run", spec_path, "--url", server.base_url,
                   "--checks", "all", "--exclude-checks", EXCLUDED_CHECKS,
                   "--max-examples", str(MAX_EXAMPLES), "--workers", "1",
                   "--request-timeout", "10", "--generation-database", "none",
                   "--no-color", "--report", "json,har", "--report-json-path", report_path,
                   "--report-har-path", har_path]
        # Its cache (.schemathesis/) goes where it runs: among the artifacts.
        run = subprocess.run(command, capture_output=True, text=True, timeout=480,
                             cwd=os.path.dirname(report_path),
                             env={**os.environ, "SCHEMATHESIS_HOOKS": HOOKS})
        server_log = server.log_text()
    with open(artifact_path("schemathesis.txt"), "w", encoding="utf-8") as out:
        out.write(run.stdout + run.stderr)
    with capsys.disabled():
        print("\n" + summary_of(run.stdout))
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    with open(report_path, encoding="utf-8") as report_file:
        report = json.load(report_file)
    operations, cases = report["operations"], report["test_cases"]
    assert operations["total"] == operations["tested"] == 8
    assert cases["with_failures"] == cases["errored"] == 0
    assert "Traceback" not in server_log
    per_operation = requests_per_operation(har_path, json.loads(served.body))
    for operation in INPUT_OPERATIONS:
        assert sum(per_operation[operation].values()) >= MIN_REQUESTS, per_operation[operation]
    assert per_operation["POST /users"].get("201", 0) >= MIN_ACCEPTED
    assert per_operation["POST /"].get("302", 0) >= MIN_ACCEPTED
    metrics["schemathesis"] = {
        "operations": operations["tested"], "cases": cases["generated"],
        "failures": cases["unique_failures"], "seed": report["seed"],
        "seconds": round(report["running_time"]),
        "accepted_vs_refused": accepted_vs_refused(report),
        "requests_per_operation": per_operation,
    }


def summary_of(output):
    """Return Schemathesis's closing summary (from its SUMMARY rule to the end)."""
    index = output.rfind("SUMMARY")
    return output[output.rfind("\n", 0, index) + 1:] if index >= 0 else output[-3000:]


def requests_per_operation(har_path, spec):
    """Count the statuses Schemathesis got per described operation, and for other methods."""
    with open(har_path, encoding="utf-8") as har_file:
        entries = json.load(har_file)["log"]["entries"]
    counts = {}
    for entry in entries:
        path = "/" + entry["request"]["url"].split("/", 3)[3].split("?")[0]
        if path.startswith("/users/") and path not in spec["paths"]:
            path = "/users/{user_id}"
        method = entry["request"]["method"]
        described = method.lower() in spec["paths"].get(path, {})
        statuses = counts.setdefault(f"{method} {path}" if described else "other methods", {})
        status = str(entry["response"]["status"])
        statuses[status] = statuses.get(status, 0) + 1
    return counts


def accepted_vs_refused(report):
    """Per operation with a body: how many generated requests were accepted and refused."""
    rates = {}
    for operation, phases in report.get("valid_rates", {}).items():
        accepted = sum(phase["accepted"] for phase in phases.values())
        refused = sum(phase["rejected"] for phase in phases.values())
        if refused:
            rates[operation] = f"{accepted}/{refused}"
    return rates
