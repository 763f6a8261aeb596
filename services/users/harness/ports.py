"""Loopback ports: one nobody listens on, and whether one is free."""

import socket


def free_port(host="127.0.0.1"):
    """Return a TCP port nobody listens on at `host` right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_is_free(port, host="127.0.0.1"):
    """Return whether `port` can be bound at `host` right now."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True
