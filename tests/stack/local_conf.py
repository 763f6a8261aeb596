"""Rewrite an nginx site conf written for compose so it runs as a process on loopback.

Only two things change: the compose service names in `server NAME:PORT ...;` (upstream
blocks) and `proxy_pass http://NAME:PORT` lines point at loopback addresses, and the
`listen` line moves to a loopback address. Everything else stays byte for byte. A name
may map to several addresses, as compose's DNS resolves a scaled service to one address
per replica: its upstream `server` line then becomes one line per address, each with
the line's own parameters.

    python tests/stack/local_conf.py services/nginx/prod.conf --listen 127.0.0.1:8080 \\
        --host users=127.0.0.2:5000,127.0.0.3:5000 --host client=127.0.0.1:3000 \\
        --env USERS_POST_RATE=30r/m --env USERS_POST_BURST=10

With `--env`, the conf is first filled as the nginx image fills its template (see
fill_template); without it, the conf is taken as it is.
"""

import argparse
import re
import subprocess
import sys
from pathlib import Path

NGINX_DIR = Path(__file__).resolve().parents[2] / "services" / "nginx"

UPSTREAM_SERVER = re.compile(r"^(\s*server\s+)([A-Za-z0-9_.-]+)(:\d+)?([^;{]*;)", re.MULTILINE)
PROXY_PASS = re.compile(r"^(\s*proxy_pass\s+https?://)([A-Za-z0-9_.-]+)(:\d+)?", re.MULTILINE)
LISTEN = re.compile(r"^(\s*listen\s+)[^;]+;", re.MULTILINE)


def image_filter(dockerfile=NGINX_DIR / "Dockerfile-prod"):
    """Return the NGINX_ENVSUBST_FILTER the image sets (its variables' name pattern)."""
    found = re.search(r"^ENV NGINX_ENVSUBST_FILTER=(\S+)$", dockerfile.read_text(), re.MULTILINE)
    if not found:
        raise ValueError(f"{dockerfile} sets no NGINX_ENVSUBST_FILTER")
    return found.group(1)


def fill_template(conf, environment, name_filter=None):
    """Return `conf` as the nginx image writes out its template when it starts: envsubst
    of the environment's variables whose names match the filter, and nothing else."""
    name_filter = name_filter or image_filter()
    names = " ".join(f"${{{name}}}" for name in sorted(environment)
                     if re.search(name_filter, name))
    result = subprocess.run(["envsubst", names], input=conf, env=dict(environment),
                            capture_output=True, text=True, check=True)
    return result.stdout


def localise(conf, listen, hosts):
    """Return `conf` listening on `listen`, with each name in `hosts` mapped to its address.

    `hosts` maps a compose service name to `address:port`, or to several separated by
    commas (upstream servers only). A name the conf uses as an upstream server but
    `hosts` lacks is an error: the copy would not run here.
    """
    used = set()

    def map_host(match):
        prefix, name, _port, *rest = match.groups()
        if name not in hosts:
            return match.group(0)
        if "," in hosts[name]:
            raise ValueError(f"proxy_pass to {name!r} takes one address, not several")
        used.add(name)
        return prefix + hosts[name] + "".join(rest)

    def check_upstream(match):
        prefix, name, _port, rest = match.groups()
        if name not in hosts:
            raise ValueError(f"no loopback address given for upstream server {name!r}")
        used.add(name)
        return "\n".join(prefix + address + rest for address in hosts[name].split(","))

    conf = UPSTREAM_SERVER.sub(check_upstream, conf)
    conf = PROXY_PASS.sub(map_host, conf)
    conf, listens = LISTEN.subn(lambda match: f"{match.group(1)}{listen};", conf)
    if listens != 1:
        raise ValueError(f"expected one listen line, found {listens}")
    unused = set(hosts) - used
    if unused:
        raise ValueError(f"the conf names no upstream {sorted(unused)}")
    return conf


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("conf", help="the nginx site conf, e.g. services/nginx/prod.conf")
    parser.add_argument("--listen", required=True, help="address:port to listen on")
    parser.add_argument("--host", action="append", default=[], metavar="NAME=ADDRESS:PORT",
                        help="map a compose service name to a loopback address")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="fill the template with this variable, as the image does")
    args = parser.parse_args(argv)
    try:
        args.hosts = dict(item.split("=", 1) for item in args.host)
        args.environment = dict(item.split("=", 1) for item in args.env)
    except ValueError:
        parser.error("--host takes NAME=ADDRESS:PORT and --env NAME=VALUE")
    return args


def main(argv=None):
    args = parse_args(argv)
    with open(args.conf, encoding="utf-8") as conf:
        text = conf.read()
    if args.environment:
        text = fill_template(text, args.environment)
    try:
        sys.stdout.write(localise(text, args.listen, args.hosts))
    except ValueError as error:
        sys.exit(f"{args.conf}: {error}")


if __name__ == "__main__":
    main()
