"""Paths, tools and helpers shared by the container checks and the stack test.

Ports, processes, waits, the scratch cluster, HTTP calls and load come from the shared
harness (services/users/harness), on the path by pytest.ini."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
USERS_DIR = REPO / "services" / "users"
NGINX_DIR = REPO / "services" / "nginx"
PGBOUNCER_DIR = REPO / "services" / "pgbouncer"
# This venv's bin holds the pinned checkers; the app's venv holds the service's runtime
# requirements, as the production image has them (.ci/steps/20-containers.sh makes both).
TOOLS_BIN = Path(sys.executable).parent
APP_BIN = Path(os.environ.get("STACK_APP_VENV", REPO / ".ci" / "venv-stack" / "app")) / "bin"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
NGINX_MIME_TYPES = "/etc/nginx/mime.types"
COMMAND_TIMEOUT = 120


def run(command, **options):
    """Run `command` to completion (bounded), capturing its text output."""
    options.setdefault("timeout", COMMAND_TIMEOUT)
    return subprocess.run(command, capture_output=True, text=True, check=False, **options)


def shown(result):
    """Describe a finished command for an assertion message."""
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


class Compose:
    """`docker compose` with the pinned Compose binary as the docker CLI's plugin.

    Without a docker CLI on the machine, the same binary runs standalone.
    """

    def __init__(self, config_dir):
        plugins = config_dir / "cli-plugins"
        plugins.mkdir(parents=True)
        (plugins / "docker-compose").symlink_to(TOOLS_BIN / "docker-compose")
        self.config_dir = config_dir
        docker = shutil.which("docker")
        self.prefix = [docker, "compose"] if docker else [str(TOOLS_BIN / "docker-compose")]

    def __call__(self, *args, env=None):
        # Only what we pass: a developer's exported SECRET_KEY must not hide a missing one.
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.config_dir),
                "DOCKER_CONFIG": str(self.config_dir)}
        return run([*self.prefix, *args], cwd=REPO, env={**base, **(env or {})})

    def resolved(self, compose_file, env=None):
        """Return the file as Compose resolves it (interpolated, normalised), as a dict."""
        result = self("-f", compose_file, "config", "--format", "json", env=env)
        assert result.returncode == 0, shown(result)
        return json.loads(result.stdout)


@pytest.fixture(scope="session")
def compose(tmp_path_factory):
    return Compose(tmp_path_factory.mktemp("docker-config"))


# What the stack tests measured, by test: printed at the end of the run and written to
# ARTIFACTS (docs/reliability.md quotes them).
ARTIFACTS = REPO / ".ci" / "artifacts" / "stack"
MEASURED = {}


@pytest.fixture
def measured(request):
    """A dict for this test's numbers, reported after the run."""
    return MEASURED.setdefault(request.node.name, {})


def pytest_terminal_summary(terminalreporter):
    numbers = {test: values for test, values in MEASURED.items() if values}
    if not numbers:
        return
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "numbers.json").write_text(json.dumps(numbers, indent=2) + "\n")
    terminalreporter.section("stack numbers")
    for test, values in numbers.items():
        terminalreporter.write_line(f"{test}: {json.dumps(values)}")


TCP_STATES = {"established": "01", "listen": "0A"}


def tcp_sockets(address, port, state):
    """Count the TCP sockets in `state` whose local end is `address:port` (IPv4)."""
    local = "{}:{:04X}".format("".join(f"{int(part):02X}" for part in
                                       reversed(address.split("."))), port)
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == local and row[3] == TCP_STATES[state])


def nginx_main_conf(work_dir, site_conf):
    """Return a main nginx.conf like the nginx image's, with `site_conf` as its only site.

    The image includes /etc/nginx/conf.d/*.conf inside `http`; pid, logs and temp files
    go to `work_dir` instead of the image's paths.
    """
    temp = {name: work_dir / f"{name}_temp"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    return f"""daemon off;
worker_processes 1;
pid {work_dir / "nginx.pid"};
error_log {work_dir / "error.log"} notice;

events {{
  worker_connections 256;
}}

http {{
  include {NGINX_MIME_TYPES};
  default_type application/octet-stream;
  access_log {work_dir / "access.log"};
  client_body_temp_path {temp["client_body"]};
  proxy_temp_path {temp["proxy"]};
  fastcgi_temp_path {temp["fastcgi"]};
  uwsgi_temp_path {temp["uwsgi"]};
  scgi_temp_path {temp["scgi"]};

  include {site_conf};
}}
"""


def write_nginx_conf(work_dir, site_text, site_name="site.conf"):
    """Write `site_text` and a main conf around it into `work_dir`; return the main conf."""
    site = work_dir / site_name
    site.write_text(site_text)
    main = work_dir / "nginx.conf"
    main.write_text(nginx_main_conf(work_dir, site))
    return main


def nginx_command(work_dir, main_conf, *extra):
    return [NGINX, "-p", str(work_dir), "-e", str(work_dir / "error.log"),
            "-c", str(main_conf), *extra]
