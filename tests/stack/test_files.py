"""What the container files promise, read from the files as Compose and git see them."""

import fnmatch
import json
import re
import subprocess

import pytest

from conftest import APP_BIN, REPO, USERS_DIR, run, shown

PROD_ENV = {"SECRET_KEY": "not-a-secret", "POSTGRES_PASSWORD": "not-a-password"}
SERVICES = {"users", "users-db", "nginx", "client"}
DATA_DIR = "/var/lib/postgresql/data"
PINNED_IMAGE = re.compile(r"^FROM (python:3\.11\.\d+-slim-bookworm|postgres:\d+\.\d+-bookworm"
                          r"|nginx:\d+\.\d+\.\d+-alpine)$", re.MULTILINE)


@pytest.fixture(scope="module")
def dev(compose):
    return compose.resolved("docker-compose-dev.yml")


@pytest.fixture(scope="module")
def prod(compose):
    return compose.resolved("docker-compose-prod.yml", env=PROD_ENV)


def published(service):
    return {(port.get("host_ip"), port["published"], port["target"])
            for port in service.get("ports", [])}


def test_compose_files_have_no_version_key():
    """Ensure neither compose file carries the obsolete `version:` key."""
    for name in ("docker-compose-dev.yml", "docker-compose-prod.yml"):
        assert not re.search(r"^version\s*:", (REPO / name).read_text(), re.MULTILINE)


def test_both_files_define_the_course_services(dev, prod):
    """Ensure both files define users, users-db, nginx and client."""
    assert set(dev["services"]) == set(prod["services"]) == SERVICES


def test_dev_publishes_the_course_ports(dev):
    """Ensure dev publishes 5001, 5435, 80 and 3007 (the debugger and database on loopback)."""
    services = dev["services"]
    assert published(services["users"]) == {("127.0.0.1", "5001", 5000)}
    assert published(services["users-db"]) == {("127.0.0.1", "5435", 5432)}
    assert published(services["nginx"]) == {(None, "80", 80)}
    assert published(services["client"]) == {(None, "3007", 3000)}


def test_dev_mounts_the_code(dev):
    """Ensure dev mounts each service's code for live reload."""
    for name, source in (("users", "services/users"), ("client", "services/client")):
        binds = [(volume["source"], volume["target"]) for volume in dev["services"][name]
                 ["volumes"] if volume["type"] == "bind"]
        assert binds == [(str(REPO / source), "/usr/src/app")]


def test_dev_users_environment(dev):
    """Ensure dev sets the config and both database URLs as postgresql:// URLs."""
    env = dev["services"]["users"]["environment"]
    assert env["APP_SETTINGS"] == "project.config.DevelopmentConfig"
    assert env["DATABASE_URL"] == "postgresql://postgres:postgres@users-db:5432/users_dev"
    assert env["DATABASE_TEST_URL"] == "postgresql://postgres:postgres@users-db:5432/users_test"
    assert env["TRUSTED_PROXY_HOPS"] == "1"


def test_prod_users_environment(prod):
    """Ensure prod takes the secret and the database password from the environment."""
    env = prod["services"]["users"]["environment"]
    assert env["APP_SETTINGS"] == "project.config.ProductionConfig"
    assert env["DATABASE_URL"] == "postgresql://postgres:not-a-password@users-db:5432/users_prod"
    assert env["SECRET_KEY"] == "not-a-secret"
    assert env["TRUSTED_PROXY_HOPS"] == "1"
    assert prod["services"]["users-db"]["environment"]["POSTGRES_PASSWORD"] == "not-a-password"


def test_prod_mounts_no_code_and_publishes_only_nginx(prod):
    """Ensure prod has no bind mounts and only nginx's port 80 is published."""
    for name, service in prod["services"].items():
        assert all(volume["type"] != "bind" for volume in service.get("volumes", [])), name
        assert published(service) == ({(None, "80", 80)} if name == "nginx" else set()), name


def test_prod_builds_the_prod_images(prod):
    """Ensure prod builds every service from its production Dockerfile."""
    dockerfiles = {name: service["build"]["dockerfile"]
                   for name, service in prod["services"].items()}
    assert dockerfiles == {"users": "Dockerfile-prod", "users-db": "Dockerfile",
                           "nginx": "Dockerfile-prod", "client": "Dockerfile-prod"}


def test_prod_restarts_every_service(prod):
    """Ensure every production service has a restart policy."""
    assert {service.get("restart") for service in prod["services"].values()} == {
        "unless-stopped"}


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_database_data_lives_in_a_named_volume(which, dev, prod):
    """Ensure PostgreSQL's data is a named volume, so `down` then `up` keeps it."""
    config = {"dev": dev, "prod": prod}[which]
    (volume,) = config["services"]["users-db"]["volumes"]
    assert (volume["type"], volume["target"]) == ("volume", DATA_DIR)
    assert volume["source"] in config["volumes"]
    assert volume["source"].endswith(which)


@pytest.mark.parametrize("which", ["dev", "prod"])
def test_startup_order_waits_for_health(which, dev, prod):
    """Ensure users waits for a healthy database and nginx for a healthy users service."""
    services = {"dev": dev, "prod": prod}[which]["services"]
    test = services["users-db"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "pg_isready", "-h"]
    assert services["users"]["depends_on"]["users-db"]["condition"] == "service_healthy"
    assert services["nginx"]["depends_on"]["users"]["condition"] == "service_healthy"


@pytest.mark.parametrize("dockerfile", ["Dockerfile-dev", "Dockerfile-prod"])
def test_users_dockerfiles(dockerfile):
    """Ensure a pinned slim base, requirements before the code, no pip cache, a HEALTHCHECK."""
    text = (USERS_DIR / dockerfile).read_text()
    assert PINNED_IMAGE.search(text), text
    assert text.index("COPY requirements") < text.index("COPY . .")
    assert "pip install --no-cache-dir -r requirements" in text
    healthcheck = re.search(r"^HEALTHCHECK .*\n\s+CMD (\[.*\])$", text, re.MULTILINE)
    command = json.loads(healthcheck.group(1))
    assert command[0] == "python" and "curl" not in text


def test_prod_image_runs_as_a_numeric_user():
    """Ensure the production image runs its entrypoint as a numeric non-root user."""
    text = (USERS_DIR / "Dockerfile-prod").read_text()
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert re.search(r'^CMD \["\./entrypoint-prod\.sh"\]$', text, re.MULTILINE)
    assert "requirements-dev" not in text


@pytest.mark.parametrize("dockerfile", ["services/users/project/db/Dockerfile",
                                        "services/nginx/Dockerfile-dev",
                                        "services/nginx/Dockerfile-prod"])
def test_other_images_are_pinned(dockerfile):
    """Ensure the PostgreSQL and nginx images are pinned to a release."""
    assert PINNED_IMAGE.search((REPO / dockerfile).read_text())


def test_dockerignore_keeps_migrations():
    """Ensure .dockerignore lets migrations/ into the image (the course's left it out)."""
    patterns = [line.strip() for line in (USERS_DIR / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    for path in ("migrations", "migrations/env.py", "migrations/versions/x.py", "manage.py",
                 "gunicorn.conf.py", "entrypoint.sh", "entrypoint-prod.sh"):
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in patterns), path
    assert "instance" in patterns and ".venv" in patterns


@pytest.mark.parametrize("script", ["services/users/entrypoint.sh",
                                    "services/users/entrypoint-prod.sh"])
def test_entrypoints_are_lf_and_executable_in_git(script):
    """Ensure git checks the entrypoints out with LF endings and the executable bit."""
    attributes = subprocess.run(["git", "check-attr", "eol", "--", script], cwd=REPO,
                                capture_output=True, text=True, check=True).stdout
    assert attributes.strip().endswith("eol: lf")
    staged = subprocess.run(["git", "ls-files", "-s", "--", script], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    assert staged.startswith("100755 "), staged
    assert b"\r" not in (REPO / script).read_bytes()


def test_prod_entrypoint_never_recreates_the_database():
    """Ensure no start path drops data: upgrade only, never recreate_db or create_all."""
    for script in ("entrypoint.sh", "entrypoint-prod.sh"):
        text = (USERS_DIR / script).read_text()
        code = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
        assert "recreate_db" not in code and "create_all" not in code


def gunicorn_settings(**env):
    """Return the settings gunicorn resolves from the committed config, as a dict."""
    result = run([str(APP_BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--print-config",
                  "manage:app"], cwd=USERS_DIR, env={"PATH": "/usr/bin:/bin", **env})
    assert result.returncode == 0, shown(result)
    settings = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition("=")
        settings[name.strip()] = value.strip()
    return settings


def test_gunicorn_config():
    """Ensure the committed gunicorn config: workers, logs, timeouts, no control socket."""
    settings = gunicorn_settings()
    assert settings["bind"] == "['0.0.0.0:5000']"
    assert settings["workers"] == "2"
    assert settings["accesslog"] == "-" and settings["errorlog"] == "-"
    assert settings["graceful_timeout"] == "20"
    assert settings["control_socket_disable"] == "True"


def test_gunicorn_workers_follow_web_concurrency():
    """Ensure WEB_CONCURRENCY sets the worker count."""
    assert gunicorn_settings(WEB_CONCURRENCY="5")["workers"] == "5"


def test_travis_runs_the_course_pipeline():
    """Ensure .travis.yml starts the dev stack, runs the three checks, then tears it down."""
    text = (REPO / ".travis.yml").read_text()
    compose = "docker compose -f docker-compose-dev.yml"
    steps = [f"{compose} up -d --build", f"{compose} run --rm users python manage.py test",
             f"{compose} run --rm users flake8 project", f"{compose} run --rm client npm test",
             f"{compose} down"]
    positions = [text.index(step) for step in steps]
    assert positions == sorted(positions)
