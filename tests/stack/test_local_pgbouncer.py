"""local_pgbouncer.py: the loopback copy of pgbouncer.ini changes only what it must."""

import difflib
import subprocess
import sys

import pytest

from conftest import PGBOUNCER_DIR, REPO
from local_pgbouncer import localise

LISTEN = "127.0.0.1:16432"
HOSTS = {"users-db": "127.0.0.1:15432"}
PATHS = {"/run/pgbouncer": "/tmp/stack-pgbouncer/run/pgbouncer"}
MINIMAL = ("[databases]\nusers_prod = host=users-db port=5432 dbname=users_prod\n\n"
           "[pgbouncer]\nlisten_addr = *\nlisten_port = 6432\n"
           "auth_file = /run/pgbouncer/userlist.txt\n")


def test_only_hosts_listen_and_container_paths_change():
    """Ensure the committed file's copy differs in the database, listen and path lines only."""
    original = (PGBOUNCER_DIR / "pgbouncer.ini").read_text()
    local = localise(original, LISTEN, HOSTS, PATHS)
    changed = [line for line in difflib.ndiff(original.splitlines(), local.splitlines())
               if line[:1] in "+-"]
    assert sorted(changed) == sorted([
        "- users_prod = host=users-db port=5432 dbname=users_prod",
        "+ users_prod = host=127.0.0.1 port=15432 dbname=users_prod",
        "- listen_addr = *", "+ listen_addr = 127.0.0.1",
        "- listen_port = 6432", "+ listen_port = 16432",
        "- unix_socket_dir = /run/pgbouncer",
        "+ unix_socket_dir = /tmp/stack-pgbouncer/run/pgbouncer",
        "- auth_file = /run/pgbouncer/userlist.txt",
        "+ auth_file = /tmp/stack-pgbouncer/run/pgbouncer/userlist.txt",
    ])


def test_comments_and_other_settings_stay_byte_for_byte():
    """Ensure a commented-out setting, spacing and line endings are left alone."""
    ini = MINIMAL.replace("listen_port = 6432\n",
                          "listen_port = 6432\r\n;listen_addr = 0.0.0.0\npool_mode  =  session\n")
    local = localise(ini, LISTEN, HOSTS, PATHS)
    assert "listen_port = 16432\r\n;listen_addr = 0.0.0.0\npool_mode  =  session\n" in local


def test_a_database_without_a_port_keeps_the_default_one():
    """Ensure an entry relying on port 5432 is mapped only to an address on 5432."""
    ini = MINIMAL.replace(" port=5432", "")
    assert "users_prod = host=127.0.0.2 dbname=users_prod\n" in localise(
        ini, LISTEN, {"users-db": "127.0.0.2:5432"}, PATHS)
    with pytest.raises(ValueError, match="names no port"):
        localise(ini, LISTEN, HOSTS, PATHS)


def test_an_unmapped_database_host_is_an_error():
    """Ensure a database left pointing at a compose name is refused."""
    with pytest.raises(ValueError, match="'users_prod'"):
        localise(MINIMAL, LISTEN, {}, PATHS)


def test_an_unmapped_container_path_is_an_error():
    """Ensure a path setting outside every mapped directory is refused."""
    ini = MINIMAL + "logfile = /var/log/pgbouncer/pgbouncer.log\n"
    with pytest.raises(ValueError, match="logfile"):
        localise(ini, LISTEN, HOSTS, PATHS)


def test_a_mapping_the_file_does_not_use_is_an_error():
    """Ensure mapping a name or directory the file never uses is refused (a typo)."""
    with pytest.raises(ValueError, match="users_db"):
        localise(MINIMAL, LISTEN, {**HOSTS, "users_db": "127.0.0.1:1"}, PATHS)
    with pytest.raises(ValueError, match="/etc/pgbouncer"):
        localise(MINIMAL, LISTEN, HOSTS, {**PATHS, "/etc/pgbouncer": "/tmp/etc"})


@pytest.mark.parametrize("setting", ["listen_addr", "listen_port"])
def test_listen_settings_must_be_there_once(setting):
    """Ensure a missing listen setting is refused: PgBouncer's default would leave loopback."""
    ini = "".join(line for line in MINIMAL.splitlines(keepends=True)
                  if not line.startswith(setting))
    with pytest.raises(ValueError, match=f"one {setting} line, found 0"):
        localise(ini, LISTEN, HOSTS, PATHS)


def test_command_line():
    """Ensure the command line prints the loopback copy."""
    result = subprocess.run(
        [sys.executable, "tests/stack/local_pgbouncer.py", "services/pgbouncer/pgbouncer.ini",
         "--listen", LISTEN, "--host", "users-db=127.0.0.1:15432",
         "--path", "/run/pgbouncer=/tmp/stack-pgbouncer/run/pgbouncer"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == localise((PGBOUNCER_DIR / "pgbouncer.ini").read_text(), LISTEN,
                                     HOSTS, PATHS)
