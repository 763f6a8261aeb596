"""local_conf.py: the loopback copy of a compose nginx conf changes only what it must."""

import difflib
import subprocess
import sys

import pytest

from conftest import NGINX_DIR, REPO
from local_conf import localise

HOSTS = {"users": "127.0.0.1:15000", "client": "127.0.0.1:13000"}


@pytest.mark.parametrize("conf", ["dev.conf", "prod.conf"])
def test_only_upstream_servers_and_listen_change(conf):
    """Ensure the copy differs from the conf in the upstream servers and listen line only."""
    original = (NGINX_DIR / conf).read_text()
    local = localise(original, "127.0.0.1:18080", HOSTS)
    changed = [line for line in difflib.ndiff(original.splitlines(), local.splitlines())
               if line.startswith("+ ")]
    users = {"dev.conf": "+   server 127.0.0.1:15000;",
             "prod.conf": "+   server 127.0.0.1:15000 max_fails=1 fail_timeout=5s;"}[conf]
    assert sorted(changed) == ["+   listen 127.0.0.1:18080;", "+   server 127.0.0.1:13000;",
                               users]


def test_a_name_with_several_addresses_is_one_server_each():
    """Ensure a scaled service's addresses become one upstream server line each."""
    conf = "upstream a {\n  server users:5000 max_fails=1;\n}\nserver {\n  listen 80;\n}\n"
    local = localise(conf, "127.0.0.1:1", {"users": "127.0.0.2:5000,127.0.0.3:5000"})
    assert ("  server 127.0.0.2:5000 max_fails=1;\n  server 127.0.0.3:5000 max_fails=1;\n"
            in local)


def test_proxy_pass_to_a_host_is_mapped():
    """Ensure a proxy_pass straight to a compose host is mapped too."""
    conf = "server {\n  listen 80;\n  location / {\n    proxy_pass http://users:5000/;\n  }\n}\n"
    assert "proxy_pass http://127.0.0.1:15000/;" in localise(conf, "127.0.0.1:1", {
        "users": "127.0.0.1:15000"})


def test_an_unmapped_upstream_is_an_error():
    """Ensure an upstream server left pointing at a compose name is refused."""
    conf = "upstream a {\n  server users:5000;\n}\nserver {\n  listen 80;\n}\n"
    with pytest.raises(ValueError, match="'users'"):
        localise(conf, "127.0.0.1:1", {})


def test_a_host_the_conf_does_not_use_is_an_error():
    """Ensure mapping a name the conf never uses is refused (a typo would go unnoticed)."""
    conf = "upstream a {\n  server users:5000;\n}\nserver {\n  listen 80;\n}\n"
    with pytest.raises(ValueError, match="clients"):
        localise(conf, "127.0.0.1:1", {"users": "127.0.0.1:2", "clients": "127.0.0.1:3"})


def test_command_line():
    """Ensure the command line prints the loopback copy."""
    result = subprocess.run(
        [sys.executable, "tests/stack/local_conf.py", "services/nginx/prod.conf",
         "--listen", "127.0.0.1:18080", "--host", "users=127.0.0.1:15000",
         "--host", "client=127.0.0.1:13000"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == localise((NGINX_DIR / "prod.conf").read_text(), "127.0.0.1:18080",
                                     HOSTS)


def test_command_line_fills_the_template():
    """Ensure --env fills the template as the image does before the copy is made."""
    result = subprocess.run(
        [sys.executable, "tests/stack/local_conf.py", "services/nginx/prod.conf",
         "--listen", "127.0.0.1:18080", "--host", "users=127.0.0.1:15000",
         "--host", "client=127.0.0.1:13000",
         "--env", "USERS_POST_RATE=7r/m", "--env", "USERS_POST_BURST=3"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "rate=7r/m" in result.stdout
    assert "burst=3 nodelay" in result.stdout
    assert "${" not in result.stdout
