"""Whether a socket has anything to read, asked without giving up the GIL.

Every API request asks this of its pooled connection (`project.connections`).
`select.poll` releases the GIL around poll(2), even for a poll that never waits, and
under gunicorn's threads handing the GIL over and getting it back cost a served read
about 0.04 ms of its 0.6 ms of CPU (docs/benchmarks.md, runs G and H). ctypes' `PyDLL`
calls the C library's poll(2) keeping the GIL, which a poll that returns at once may;
where it cannot be loaded that way, `select.poll` answers the same.
"""

import ctypes
import select


class PollFd(ctypes.Structure):
    """poll(2)'s `struct pollfd`."""

    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


def load_poll():
    """Return the C library's poll(2), called with the GIL held, or None."""
    try:
        poll = ctypes.PyDLL(None).poll
    except (AttributeError, OSError, TypeError):
        return None
    poll.argtypes = [ctypes.POINTER(PollFd), ctypes.c_ulong, ctypes.c_int]
    poll.restype = ctypes.c_int
    return poll


C_POLL = load_poll()


def has_input(fd):
    """Return whether `fd` can be read now (data, its end, or an error); never wait."""
    if C_POLL is None:
        return select_has_input(fd)
    pollfd = PollFd(fd, select.POLLIN, 0)
    return C_POLL(ctypes.byref(pollfd), 1, 0) > 0


def select_has_input(fd):
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
