"""Whether a socket has anything to read, asked without giving up the GIL.

Every API request asks this of its pooled connection (`project.connections`).
`select.poll` releases the GIL around poll(2), even for a poll that never waits, and
under gunicorn's threads handing the GIL over and getting it back cost a served read
about 0.04 ms of its 0.6 ms of CPU (docs/benchmarks.md, runs G and H). ctypes' `PyDLL`
calls the C library's poll(2) keeping the GIL, which a poll that returns at once may;
where it cannot be loaded that way, `select.poll` answers the same.

A ctypes call is cheap only when ctypes has nothing to convert: building the
`struct pollfd` and checking arguments against `argtypes` were two thirds of the
instructions the check cost (callgrind, docs/benchmarks.md). So each descriptor's
`struct pollfd` is made once, and the call passes ctypes objects of poll(2)'s own
parameter types, which go through as they are.
"""

import ctypes
import select


class PollFd(ctypes.Structure):
    """poll(2)'s `struct pollfd`."""

    _fields_ = [("fd", ctypes.c_int), ("events", ctypes.c_short), ("revents", ctypes.c_short)]


# poll(2)'s `nfds_t nfds` (one descriptor) and `int timeout` (none: return at once).
ONE_FD = ctypes.c_ulong(1)
NO_WAIT = ctypes.c_int(0)
# A `struct pollfd` asking for input, for each descriptor polled so far. poll(2) writes
# only `revents`, which nothing reads, so threads may share them, and a descriptor
# number reused by a new socket is asked about the same way.
POLL_FDS = {}


def load_poll():
    """Return the C library's poll(2), called with the GIL held, or None."""
    try:
        poll = ctypes.PyDLL(None).poll
    except (AttributeError, OSError, TypeError):
        return None
    poll.restype = ctypes.c_int
    return poll


C_POLL = load_poll()


def has_input(fd):
    """Return whether `fd` can be read now (data, its end, or an error); never wait."""
    if C_POLL is None:
        return select_has_input(fd)
    pollfd = POLL_FDS.get(fd)
    if pollfd is None:
        pollfd = POLL_FDS[fd] = ctypes.byref(PollFd(fd, select.POLLIN, 0))
    return C_POLL(pollfd, ONE_FD, NO_WAIT) > 0


def select_has_input(fd):
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
