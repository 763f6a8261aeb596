"""Production as served, with every debug switch set in its environment, exposes nothing."""

import os
import shutil
import subprocess
import tempfile

import pytest

from conftest import APP_PYTHON, USERS_DIR
from harness.http import request
from harness.ports import free_port
from harness.servers import service_env
from harness.waiting import wait_until

DEBUG_ENVIRONMENT = {"FLASK_DEBUG": "1", "FLASK_ENV": "development", "DEBUG_TB_ENABLED": "1"}


def test_debug_switches_do_nothing_in_production(serve, metrics):
    with serve("exposure", workers=1, **DEBUG_ENVIRONMENT) as (server, _):
        base = server.base_url
        page = request(base + "/")
        toolbar = request(base + "/_debug_toolbar/static/css/toolbar.css")
        console = request(base + "/console")
        foreign = request(base + "/users/ping", headers={"Origin": "http://evil.example"})
        log = server.log_text()

    assert page.status == 200
    assert b"flDebug" not in page.body and b"_debug_toolbar" not in page.body
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    for response in (toolbar, console):
        assert response.status == 404
        body = response.json()
        assert body["status"] == "fail" and set(body) == {"status", "message"}
        assert b"Traceback" not in response.body
    assert foreign.status == 200
    assert foreign.headers["Access-Control-Allow-Origin"] is None
    assert "never runs the debugger" in log
    metrics["exposure"] = {"debug_switches_set": len(DEBUG_ENVIRONMENT), "toolbar_served": 0,
                           "console_served": 0, "cors_for_unlisted_origin": 0}


def debugger_resource_served(settings):
    """Run `manage.py run` (Werkzeug's server) with FLASK_DEBUG=1; ask for a debugger file."""
    port = free_port()
    folder = tempfile.mkdtemp(prefix="reliability-run-")
    env = service_env("sqlite:///" + os.path.join(folder, "users.db"),
                      APP_SETTINGS=f"project.config.{settings}", FLASK_DEBUG="1")
    with open(os.path.join(folder, "server.log"), "wb") as log:
        server = subprocess.Popen([APP_PYTHON, "manage.py", "run", "--port", str(port),
                                   "--no-reload"], cwd=USERS_DIR, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def answers():
            try:
                return request(url + "/users/ping", timeout=2).status == 200
            except OSError:
                return False

        wait_until(lambda: server.poll() is not None or answers(), "manage.py run answering",
                   30)
        if server.poll() is not None:
            with open(os.path.join(folder, "server.log"), encoding="utf-8") as log:
                raise RuntimeError("manage.py run exited: " + log.read()[-2000:])
        resource = request(url + "/?__debugger__=yes&cmd=resource&f=style.css")
        return resource.headers.get_content_type() == "text/css"
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def test_flask_debug_starts_the_debugger_in_development(metrics):
    assert debugger_resource_served("DevelopmentConfig") is True
    metrics.setdefault("dev_server_with_FLASK_DEBUG", {})["DevelopmentConfig"] = "debugger on"


@pytest.mark.parametrize("arguments", [["run"], ["--debug", "run"], ["run", "--debugger"]])
def test_production_never_starts_the_development_server(arguments, metrics):
    env = service_env("sqlite:///" + os.path.join(tempfile.gettempdir(), "never.db"),
                      APP_SETTINGS="project.config.ProductionConfig", FLASK_DEBUG="1")
    result = subprocess.run([APP_PYTHON, "manage.py", *arguments, "--port", str(free_port())],
                            cwd=USERS_DIR, env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert "never runs the development server" in result.stderr
    metrics.setdefault("dev_server_with_FLASK_DEBUG", {})["ProductionConfig"] = "refused"
