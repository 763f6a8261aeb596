"""What a Docker engine would reject, caught by checkers that need none.

Each checker also meets a known-bad file and must fail on it, so a checker that passes
everything (missing, misconfigured, or silently skipping files) fails the suite.
"""

import re
import subprocess

import pytest

from conftest import NGINX, NGINX_DIR, REPO, TOOLS_BIN, nginx_command, run, shown, write_nginx_conf
from harness.processes import IS_ROOT
from local_conf import fill_template
from topology import ProdServices

COMPOSE_FILES = ["docker-compose-dev.yml", "docker-compose-prod.yml"]
# Values for the variables the production file requires from the environment.
PROD_ENV = {"SECRET_KEY": "not-a-secret", "POSTGRES_PASSWORD": "not-a-password",
            "USERS_SERVICE_PASSWORD": "not-a-service-password"}
NGINX_CONFS = ["dev.conf", "prod.conf"]
# The compose service names the nginx confs proxy to.
COMPOSE_HOSTS = ["users", "client"]
# .ci/lib.sh (not ours) still has info-level SC2012 notes; it must stay clean of warnings.
SHELLCHECK_SEVERITY = {}

BAD_COMPOSE = """\
services:
  users:
    image: python:3.11.17-slim-bookworm
    ports: 5001
    restart: sometimes
"""
BAD_TRAVIS = """\
language: cobol
script:
  run: tests
"""
BAD_DOCKERFILE = """\
FROM python:latest
RUN cd /tmp && pip install flask
"""
BAD_SCRIPT = """\
#!/bin/sh
cd $1
echo "done"
"""
BAD_NGINX_CONF = """\
server {
  listen 80;
  location / {
    proxy_pass;
  }
}
"""


def project_files():
    """Every file in the work tree that git tracks or would track (not ignored ones)."""
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
    return sorted(path for path in listing.splitlines() if (REPO / path).is_file())


def dockerfiles():
    return [path for path in project_files()
            if path.rsplit("/", 1)[-1].split("-")[0] == "Dockerfile"]


def shell_scripts():
    def is_shell(path):
        if path.endswith(".sh"):
            return True
        with open(REPO / path, "rb") as file:
            first_line = file.readline()
        return first_line.startswith(b"#!") and first_line.split(b"/")[-1].split()[-1] in (
            b"sh", b"bash")
    return [path for path in project_files() if is_shell(path)]


def check_jsonschema(schema, *files):
    return run([str(TOOLS_BIN / "check-jsonschema"), "--builtin-schema", schema, *files],
               cwd=REPO)


def hadolint(path):
    return run([str(TOOLS_BIN / "hadolint"), "--no-color", str(path)], cwd=REPO)


def shellcheck(path, severity="style"):
    # -x from the repository root follows `source .ci/lib.sh`.
    command = ["shellcheck", "-x", f"--severity={severity}"]
    with open(REPO / path, "rb") as script:
        if script.read(2) != b"#!":
            command.append("--shell=bash")  # a sourced helper has no shebang
    return run([*command, str(path)], cwd=REPO)


def nginx_test(site_text, work_dir):
    """`nginx -t` on a site conf as the nginx image loads it (inside `http`).

    The conf names compose services (users, client) that nginx resolves when it loads, so
    the test runs in a private mount namespace whose /etc/hosts maps them to loopback;
    the conf itself is tested unchanged.
    """
    main_conf = write_nginx_conf(work_dir, site_text)
    hosts = work_dir / "hosts"
    hosts.write_text("127.0.0.1 localhost " + " ".join(COMPOSE_HOSTS) + "\n")
    script = 'mount --bind "$1" /etc/hosts && shift && exec "$@"'
    namespace = ["unshare", "--mount", "--propagation", "private"]
    if not IS_ROOT:
        namespace.insert(1, "--map-root-user")
    return run([*namespace, "sh", "-c", script, "sh", str(hosts),
                *nginx_command(work_dir, main_conf, "-t")])


def test_compose_is_the_pinned_plugin(compose):
    """Ensure `docker compose` runs the Compose binary pinned in requirements.txt."""
    result = compose("version")
    assert result.returncode == 0, shown(result)
    assert result.stdout.strip() == "Docker Compose version v5.6.1", shown(result)


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
def test_compose_config_accepts(compose, compose_file):
    """Ensure Compose accepts each compose file, without a warning."""
    result = compose("-f", compose_file, "config", "-q", env=PROD_ENV)
    assert result.returncode == 0, shown(result)
    assert result.stderr == "", shown(result)


def test_compose_config_refuses_bad_file(compose, tmp_path):
    """Ensure `docker compose config -q` exits non-zero on an invalid file."""
    bad = tmp_path / "docker-compose-bad.yml"
    bad.write_text(BAD_COMPOSE)
    result = compose("-f", str(bad), "config", "-q")
    assert result.returncode != 0, shown(result)
    assert "ports" in result.stderr, shown(result)


def test_prod_compose_refuses_to_start_without_secrets(compose):
    """Ensure the production file needs each of its secrets from the environment."""
    result = compose("-f", "docker-compose-prod.yml", "config", "-q")
    assert result.returncode != 0, shown(result)
    for name in PROD_ENV:
        assert f"required variable {name} is missing" in result.stderr, shown(result)


@pytest.mark.parametrize("missing", sorted(PROD_ENV))
def test_prod_compose_refuses_each_missing_secret(compose, missing):
    """Ensure the production file refuses to resolve when any one secret is missing."""
    env = {name: value for name, value in PROD_ENV.items() if name != missing}
    result = compose("-f", "docker-compose-prod.yml", "config", "-q", env=env)
    assert result.returncode != 0, shown(result)
    assert f"required variable {missing} is missing" in result.stderr, shown(result)


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
def test_compose_spec_schema_accepts(compose_file):
    """Ensure each compose file is valid against the compose-spec JSON schema."""
    result = check_jsonschema("vendor.compose-spec", compose_file)
    assert result.returncode == 0, shown(result)


def test_compose_spec_schema_refuses_bad_file(tmp_path):
    """Ensure the compose-spec schema check fails on an invalid file."""
    bad = tmp_path / "docker-compose-bad.yml"
    bad.write_text(BAD_COMPOSE)
    result = check_jsonschema("vendor.compose-spec", str(bad))
    assert result.returncode != 0, shown(result)
    assert "ports" in result.stdout, shown(result)


def test_travis_schema_accepts():
    """Ensure .travis.yml is valid against the Travis schema."""
    result = check_jsonschema("vendor.travis", ".travis.yml")
    assert result.returncode == 0, shown(result)


def test_travis_schema_refuses_bad_file(tmp_path):
    """Ensure the Travis schema check fails on an invalid file."""
    bad = tmp_path / ".travis.yml"
    bad.write_text(BAD_TRAVIS)
    result = check_jsonschema("vendor.travis", str(bad))
    assert result.returncode != 0, shown(result)
    assert "cobol" in result.stdout, shown(result)


def test_every_service_has_its_dockerfiles():
    """Ensure the Dockerfile discovery sees the files this issue is about."""
    expected = {"services/users/Dockerfile-dev", "services/users/Dockerfile-prod",
                "services/users/project/db/Dockerfile", "services/pgbouncer/Dockerfile",
                "services/nginx/Dockerfile-dev", "services/nginx/Dockerfile-prod"}
    assert expected <= set(dockerfiles())


@pytest.mark.parametrize("dockerfile", dockerfiles())
def test_hadolint_accepts(dockerfile):
    """Ensure each Dockerfile passes hadolint with no finding."""
    result = hadolint(dockerfile)
    assert result.returncode == 0, shown(result)


def test_hadolint_refuses_bad_file(tmp_path):
    """Ensure hadolint fails on a Dockerfile with an unpinned base and a `cd`."""
    bad = tmp_path / "Dockerfile"
    bad.write_text(BAD_DOCKERFILE)
    result = hadolint(bad)
    assert result.returncode != 0, shown(result)
    assert "DL3007" in result.stdout and "DL3003" in result.stdout, shown(result)


def test_every_entrypoint_is_a_shell_script():
    """Ensure the script discovery sees the entrypoints and CI's scripts."""
    expected = {"services/users/entrypoint.sh", "services/users/entrypoint-prod.sh",
                "services/users/project/db/roles.sh", "services/pgbouncer/entrypoint.sh",
                ".ci/run", ".ci/lib.sh", ".ci/steps/20-containers.sh"}
    assert expected <= set(shell_scripts())


@pytest.mark.parametrize("script", shell_scripts())
def test_shellcheck_accepts(script):
    """Ensure each shell script passes shellcheck."""
    result = shellcheck(script, SHELLCHECK_SEVERITY.get(script, "style"))
    assert result.returncode == 0, shown(result)


def test_shellcheck_refuses_bad_file(tmp_path):
    """Ensure shellcheck fails on a script with an unquoted argument."""
    bad = tmp_path / "bad.sh"
    bad.write_text(BAD_SCRIPT)
    result = shellcheck(bad)
    assert result.returncode != 0, shown(result)
    assert "SC2086" in result.stdout, shown(result)


def site_as_the_image_loads_it(conf, compose):
    """Return the site conf `conf` as its image writes it out: prod.conf is a template
    filled from compose's environment for nginx."""
    text = (NGINX_DIR / conf).read_text()
    if conf == "prod.conf":
        text = fill_template(text, ProdServices(compose).environment("nginx"))
    return text


def test_prod_conf_template_fills_only_its_own_variables(compose):
    """Ensure the image's envsubst fills the USERS_POST_ settings from compose's defaults
    and leaves every nginx variable ($host, $binary_remote_addr, ...) as it is."""
    original = (NGINX_DIR / "prod.conf").read_text()
    filled = site_as_the_image_loads_it("prod.conf", compose)
    assert "${" not in filled
    assert "rate=30r/m;" in filled and "burst=10 nodelay;" in filled
    assert re.findall(r"\$[a-z_]+", filled) == re.findall(r"\$[a-z_]+", original)


@pytest.mark.parametrize("conf", NGINX_CONFS)
def test_nginx_accepts(conf, tmp_path, compose):
    """Ensure nginx -t accepts each site conf as the nginx image would load it."""
    result = nginx_test(site_as_the_image_loads_it(conf, compose), tmp_path)
    assert result.returncode == 0, shown(result)
    assert "test is successful" in result.stderr, shown(result)


def test_nginx_refuses_bad_file(tmp_path):
    """Ensure nginx -t fails on a conf with a proxy_pass that has no target."""
    result = nginx_test(BAD_NGINX_CONF, tmp_path)
    assert result.returncode != 0, shown(result)
    assert "invalid number of arguments" in result.stderr, shown(result)


def test_nginx_is_debian_nginx():
    """Ensure the nginx under test is a real nginx binary."""
    result = run([NGINX, "-v"])
    assert result.returncode == 0 and "nginx version: nginx/" in result.stderr, shown(result)
