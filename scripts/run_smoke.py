"""Smoke-test README's run command on SQLite: `make run`, then real HTTP, then stop.

The database is a fresh SQLite file, so the run migrates it from empty.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BASE_URL = "http://127.0.0.1:5001"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER = {"username": "michael", "email": "michael@mherman.org"}
STORED = {"id": 1, "active": True, **USER}

CHECKS = [
    ("GET", "/users/ping", None, 200, {"status": "success", "message": "pong!"}),
    ("POST", "/users", USER, 201,
     {"status": "success", "message": "michael@mherman.org was added!"}),
    ("GET", "/users/1", None, 200, {"status": "success", "data": STORED}),
    ("GET", "/users", None, 200, {"status": "success", "data": {"users": [STORED]}}),
    ("POST", "/users", {**USER, "username": "other"}, 400,
     {"status": "fail", "message": "Sorry. That email already exists."}),
    ("POST", "/users", {**USER, "email": "other@mherman.org"}, 400,
     {"status": "fail", "message": "Sorry. That username already exists."}),
    ("GET", "/users/2147483648", None, 404,
     {"status": "fail", "message": "User does not exist"}),
]


def request(method, path, payload):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(BASE_URL + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def wait_for_server(server, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("make run exited before serving")
        try:
            request("GET", "/users/ping", None)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"make run did not serve within {seconds} s")


def run_checks():
    failed = 0
    for method, path, payload, status, body in CHECKS:
        got = request(method, path, payload)
        ok = got == (status, body)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {method} {path} -> {got[0]}")
        if not ok:
            print(f"     expected {(status, body)}\n     got      {got}")
    malformed = urllib.request.Request(BASE_URL + "/users", data=b"{", method="POST",
                                       headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(malformed, timeout=10)
        code = 200
    except urllib.error.HTTPError as error:
        code = error.code
    print(f"{'ok  ' if code == 400 else 'FAIL'} POST /users (malformed JSON) -> {code}")
    failed += code != 400
    return len(CHECKS) + 1 - failed, failed


def main():
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "DATABASE_URL": "sqlite:///" + os.path.join(folder, "users.db")}
        env.pop("APP_SETTINGS", None)
        server = subprocess.Popen(["make", "run"], cwd=REPO, env=env, start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_server(server)
            passed, failed = run_checks()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
