"""nginx as the stack runs it: a loopback copy of a site conf, and stand-ins behind it.

The production conf is a template the nginx image fills in from its environment when it
starts (local_conf.fill_template does the same); local_conf.localise points its compose
names at loopback. The stand-ins answer every request with a marker naming it and
remember what they were sent.
"""

import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import NGINX_DIR, nginx_command, run, shown, write_nginx_conf
from harness.http import request
from harness.ports import free_port, port_is_free
from harness.waiting import wait_until
from local_conf import fill_template, localise


class Recorder(BaseHTTPRequestHandler):
    """Answer every request with a marker naming it, and remember its headers."""

    marker = "stand-in"

    def do_GET(self):
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        body = f"{self.marker}: {self.command} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


class ClientStandIn(Recorder):
    marker = "client stand-in"


class HeaderEcho(Recorder):
    marker = "header echo"


def serve(handler):
    """Start a loopback HTTP server for `handler` in a thread; return the server."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def nginx_name(port):
    return f"nginx-{port}"


def nginx_output(processes, base_url):
    """Return the path of what the nginx start_nginx started at `base_url` wrote to its
    stdout (prod.conf's access lines)."""
    return processes.log_dir / f"{nginx_name(urllib.parse.urlsplit(base_url).port)}.log"


def start_nginx(processes, work_dir, hosts, conf="prod.conf", environment=None):
    """Run nginx with a loopback copy of `conf` (a template filled from `environment`, as
    the production image does); return its base URL."""
    port = 80 if port_is_free(80) else free_port()
    text = (NGINX_DIR / conf).read_text()
    if environment is not None:
        text = fill_template(text, environment)
    site = localise(text, f"127.0.0.1:{port}", hosts)
    main_conf = write_nginx_conf(work_dir, site, conf)
    check = run(nginx_command(work_dir, main_conf, "-t"))
    assert check.returncode == 0, shown(check)
    process = processes.start(nginx_name(port), nginx_command(work_dir, main_conf))
    base_url = f"http://127.0.0.1:{port}"
    wait_until(lambda: request(base_url + "/").status == 200, "nginx answering", 30, process)
    return base_url
