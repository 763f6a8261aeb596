"""Wait on the state you need, never on a sleep: poll a check until it holds, bounded."""

import time

# How much of a process's log a failure message shows: its end, where the reason is.
LOG_TAIL = 10_000


class WaitFailed(AssertionError):
    """What was awaited did not happen: the time ran out, or the process meant to bring it
    exited first."""


def wait_until(check, what, timeout=60, process=None, interval=0.2):
    """Call `check` until it returns a true value (returned); raise WaitFailed after
    `timeout` seconds.

    `what` names the awaited event; a callable gives it when failing (the state last seen).
    An OSError from `check` counts as not yet (a server not listening yet). If `process`
    (a Popen) exits first, the wait fails at once, with the end of its log if it has one.
    """
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise WaitFailed(f"{getattr(process, 'name', process.args)} exited "
                             f"({process.returncode}) before {described(what)}:\n"
                             f"{log_tail(process)}")
        try:
            value = check()
        except OSError as error:
            value, last = None, error
        if value:
            return value
        time.sleep(interval)
    raise WaitFailed(f"{described(what)} did not happen within {timeout} s "
                     f"(last error: {last})")


def described(what):
    return what() if callable(what) else what


def log_tail(process):
    log_path = getattr(process, "log_path", None)
    if log_path is None:
        return "(no log)"
    with open(log_path, encoding="utf-8", errors="replace") as log:
        return log.read()[-LOG_TAIL:]
