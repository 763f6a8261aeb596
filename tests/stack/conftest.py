"""Paths, tools and process helpers shared by the container checks and the stack test."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
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
IS_ROOT = os.geteuid() == 0


def run(command, **options):
    """Run `command` to completion (bounded), capturing its text output."""
    options.setdefault("timeout", COMMAND_TIMEOUT)
    return subprocess.run(command, capture_output=True, text=True, check=False, **options)


def shown(result):
    """Describe a finished command for an assertion message."""
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def free_port():
    """Return a loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port):
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def as_user(user, command, group=None):
    """Prefix `command` so it runs as `user` (and `group`, by default the user's name)
    when we are root, keeping the environment.

    setpriv execs in place, so the process we start is the command itself (its pid gets
    our signals), unlike su or runuser, which stay in between.
    """
    if not IS_ROOT:
        return list(command)
    return ["setpriv", f"--reuid={user}", f"--regid={group or user}", "--clear-groups",
            *command]


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


class Processes:
    """Servers started for a test, each with its own log; all stopped at teardown."""

    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.started = []

    def start(self, name, command, **options):
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True,
                                       **options)
        process.name = name
        process.log_path = log_path
        process.started_at = time.monotonic()
        self.started.append(process)
        return process

    def stop(self, process, sig=signal.SIGTERM, timeout=30):
        """Signal `process` and wait for it; kill its own process group if it hangs."""
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        return process.returncode

    def stop_all(self):
        for process in reversed(self.started):
            self.stop(process)

    @staticmethod
    def kill_group(process):
        """SIGKILL `process` and everything in its process group (a server and its workers),
        as a machine or container dying would; return once every one of them has exited.

        Until the last of them has, their listening socket still takes connections.
        """
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        wait_until(lambda: not group_members(process.pid), f"{process.name}'s group exiting", 30)

    @staticmethod
    def log(process):
        return process.log_path.read_text(errors="replace")


def wait_until(check, what, timeout=60, process=None, interval=0.2):
    """Call `check` until it returns a true value (returned), or fail after `timeout` s.

    `what` names the awaited event; a callable gives it when failing (the state last seen).
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            pytest.fail(f"{process.name} exited ({process.returncode}) before {described(what)}:\n"
                        f"{Processes.log(process)}")
        try:
            value = check()
        except OSError as error:
            value, last = None, error
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"{described(what)} did not happen within {timeout} s (last error: {last})")


def described(what):
    return what() if callable(what) else what


def child_pids(pid):
    """Return the pids of `pid`'s children (a gunicorn master's workers), sorted."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return sorted(children)


def group_members(pgid):
    """Return the pids of the processes in process group `pgid` that still have a live
    thread.

    A process whose main thread has exited shows as a zombie while its other threads
    (a gthread worker's) are still exiting, and holding its sockets open: look at them all.
    """
    members = []
    for process in Path("/proc").glob("[0-9]*"):
        states = []
        for stat in process.glob("task/[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended while we looked
            if int(fields[2]) != pgid:
                break
            states.append(fields[0])
        if any(state != "Z" for state in states):
            members.append(int(process.name))
    return members


TCP_STATES = {"established": "01", "listen": "0A"}


def tcp_sockets(address, port, state):
    """Count the TCP sockets in `state` whose local end is `address:port` (IPv4)."""
    local = "{}:{:04X}".format("".join(f"{int(part):02X}" for part in
                                       reversed(address.split("."))), port)
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(1 for row in rows if row[1] == local and row[3] == TCP_STATES[state])


def scratch_dir(prefix, owner=None):
    """Make a temporary directory others may traverse, optionally owned by `owner`."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if owner and IS_ROOT:
        shutil.chown(path, owner, owner)
    return path


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
