"""Rewrite the committed pgbouncer.ini written for compose so it runs as a process on loopback.

Only three kinds of line change: the `host=` and `port=` of each `[databases]` entry
point at a loopback address instead of a compose service, `listen_addr` and
`listen_port` move to a loopback address, and the settings that name container paths
(`unix_socket_dir`, `auth_file`, and `auth_hba_file`, `logfile` or `pidfile` where set)
move to a local directory. Everything else stays byte for byte, comments included.

    python tests/stack/local_pgbouncer.py services/pgbouncer/pgbouncer.ini \\
        --listen 127.0.0.1:16432 --host users-db=127.0.0.1:15432 \\
        --path /run/pgbouncer=/tmp/pgbouncer/run/pgbouncer
"""

import argparse
import re
import sys

SECTION = re.compile(r"^\s*\[([^]]+)\]")
SETTING = re.compile(r"^(\s*)([A-Za-z0-9_.*-]+)(\s*=\s*)(.*?)(\s*)$")
CONNECTION_HOST = re.compile(r"\bhost=(\S+)")
CONNECTION_PORT = re.compile(r"\bport=(\d+)")
DEFAULT_SERVER_PORT = "5432"
PATH_SETTINGS = ("unix_socket_dir", "auth_file", "auth_hba_file", "logfile", "pidfile")


def localise(ini, listen, hosts, paths):
    """Return `ini` listening on `listen`, its databases and container paths mapped.

    `hosts` maps a compose service name to `address:port`; `paths` maps a container
    directory to a local one. A database host or a path setting left unmapped is an
    error (the copy would not run here), and so is a mapping the file never uses.
    """
    address, _, port = listen.rpartition(":")
    listen_values = {"listen_addr": address, "listen_port": port}
    seen = {name: 0 for name in listen_values}
    used_hosts, used_paths = set(), set()
    section = None
    lines = []
    for line in ini.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        header = SECTION.match(body)
        setting = SETTING.match(body)
        if header:
            section = header.group(1).strip().lower()
        elif setting:
            indent, name, equals, value, trailing = setting.groups()
            if section == "databases":
                value = map_database(name, value, hosts, used_hosts)
            elif section == "pgbouncer" and name in listen_values:
                seen[name] += 1
                value = listen_values[name]
            elif section == "pgbouncer" and name in PATH_SETTINGS:
                value = map_path(name, value, paths, used_paths)
            body = indent + name + equals + value + trailing
        lines.append(body + ending)
    for name, count in seen.items():
        if count != 1:
            raise ValueError(f"expected one {name} line, found {count}")
    unused = sorted(set(hosts) - used_hosts) + sorted(set(paths) - used_paths)
    if unused:
        raise ValueError(f"the file never uses {unused}")
    return "".join(lines)


def map_database(name, connection, hosts, used):
    """Point one `[databases]` connection string's host and port at its loopback address."""
    host = CONNECTION_HOST.search(connection)
    if not host or host.group(1) not in hosts:
        raise ValueError(f"no loopback address given for database {name!r}'s host "
                         f"{host.group(1) if host else '(none)'}")
    used.add(host.group(1))
    address, _, port = hosts[host.group(1)].rpartition(":")
    connection = CONNECTION_HOST.sub(f"host={address}", connection, count=1)
    if CONNECTION_PORT.search(connection):
        return CONNECTION_PORT.sub(f"port={port}", connection, count=1)
    if port != DEFAULT_SERVER_PORT:
        raise ValueError(f"database {name!r} names no port to map to {port}")
    return connection


def map_path(name, value, paths, used):
    """Move a container path setting under the local directory its container one maps to."""
    for container, local in paths.items():
        if value == container or value.startswith(container.rstrip("/") + "/"):
            used.add(container)
            return local.rstrip("/") + value[len(container.rstrip("/")):]
    raise ValueError(f"no local directory given for {name} = {value}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ini", help="the PgBouncer config, e.g. services/pgbouncer/pgbouncer.ini")
    parser.add_argument("--listen", required=True, help="address:port to listen on")
    parser.add_argument("--host", action="append", default=[], metavar="NAME=ADDRESS:PORT",
                        help="map a compose service name to a loopback address")
    parser.add_argument("--path", action="append", default=[], metavar="CONTAINER=LOCAL",
                        help="map a container directory to a local one")
    args = parser.parse_args(argv)
    try:
        args.hosts = dict(item.split("=", 1) for item in args.host)
        args.paths = dict(item.split("=", 1) for item in args.path)
    except ValueError:
        parser.error("--host takes NAME=ADDRESS:PORT and --path CONTAINER=LOCAL")
    return args


def main(argv=None):
    args = parse_args(argv)
    with open(args.ini, encoding="utf-8") as ini:
        text = ini.read()
    try:
        sys.stdout.write(localise(text, args.listen, args.hosts, args.paths))
    except ValueError as error:
        sys.exit(f"{args.ini}: {error}")


if __name__ == "__main__":
    main()
