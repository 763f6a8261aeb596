"""Processes the tests start, and what /proc says about them.

Each process runs in a session of its own (its group is its workers too), writes to a log
of its own, and is stopped with bounded waits. Its workers, their memory and CPU time come
from /proc, so no venv needs psutil.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness.waiting import wait_until

IS_ROOT = os.geteuid() == 0


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


def scratch_dir(prefix, owner=None):
    """Make a temporary directory others may traverse, optionally owned by `owner`."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if owner and IS_ROOT:
        shutil.chown(path, owner, owner)
    return path


class Processes:
    """Processes started for a test, each with its own log in `log_dir`; all stopped at
    teardown."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.started = []

    def start(self, name, command, **options):
        """Start `command` in a session of its own, its output appended to `name`.log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
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

    @staticmethod
    def stop(process, sig=signal.SIGTERM, timeout=30):
        """Signal `process` and wait for it; kill its own process group if it hangs.

        Returns its exit status (negative: the signal that ended it).
        """
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


def memory(pid):
    """Return (resident size, peak resident size) of `pid` in bytes, or None if it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    return tuple(int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmHWM"))


def cpu_seconds(pid):
    """Return the CPU time (user and system) `pid` has used, or 0.0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
