"""What the container files promise, read from the files as Compose and git see them."""

import fnmatch
import json
import re
import subprocess

import pytest

from conftest import APP_BIN, PGBOUNCER_DIR, REPO, USERS_DIR, run, shown

PROD_ENV = {"SECRET_KEY": "not-a-secret", "POSTGRES_PASSWORD": "not-a-password",
            "USERS_SERVICE_PASSWORD": "not-a-service-password"}
SERVICES = {"users-migrate", "users", "users-db", "nginx", "client"}
# The one-shot that applies the migrations; every other service runs until stopped.
ONE_SHOT = "users-migrate"
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
    """Ensure both files define the course's services and the one-shot; prod adds pgbouncer."""
    assert set(dev["services"]) == SERVICES
    assert set(prod["services"]) == SERVICES | {"pgbouncer"}


def test_dev_publishes_the_course_ports(dev):
    """Ensure dev publishes 5001, 5435, 80 and 3007 (the debugger and database on loopback)."""
    services = dev["services"]
    assert published(services["users"]) == {("127.0.0.1", "5001", 5000)}
    assert published(services["users-db"]) == {("127.0.0.1", "5435", 5432)}
    assert published(services["nginx"]) == {(None, "80", 80)}
    assert published(services["client"]) == {(None, "3007", 3000)}
    assert published(services[ONE_SHOT]) == set()


def test_dev_mounts_the_code(dev):
    """Ensure dev mounts each service's code for live reload."""
    for name, source in (("users", "services/users"), (ONE_SHOT, "services/users"),
                         ("client", "services/client")):
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


def test_dev_migrates_as_the_service_connects(dev):
    """Ensure dev's one-shot migrates the database the service uses, as the same role."""
    services = dev["services"]
    env = services[ONE_SHOT]["environment"]
    assert env == {"APP_SETTINGS": "project.config.DevelopmentConfig",
                   "DATABASE_URL": services["users"]["environment"]["DATABASE_URL"]}
    assert services[ONE_SHOT]["command"] == [
        "/bin/sh", "/usr/src/app/entrypoint.sh", "python", "manage.py", "db", "upgrade"]


def test_prod_users_environment(prod):
    """Ensure prod's users connect as users_service through pgbouncer, secrets from outside."""
    env = prod["services"]["users"]["environment"]
    assert env["APP_SETTINGS"] == "project.config.ProductionConfig"
    assert env["DATABASE_URL"] == (
        "postgresql://users_service:not-a-service-password@pgbouncer:6432/users_prod")
    assert env["SECRET_KEY"] == "not-a-secret"
    assert env["TRUSTED_PROXY_HOPS"] == "1"
    assert prod["services"]["users-db"]["environment"] == {
        "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "not-a-password",
        "USERS_SERVICE_PASSWORD": "not-a-service-password"}
    assert prod["services"]["pgbouncer"]["environment"] == {
        "USERS_SERVICE_PASSWORD": "not-a-service-password"}


def test_prod_migrates_as_the_owner_straight_to_postgres(prod):
    """Ensure prod's one-shot runs `db upgrade` as postgres on users-db, not through pgbouncer."""
    migrate = prod["services"][ONE_SHOT]
    assert migrate["environment"] == {
        "APP_SETTINGS": "project.config.ProductionConfig",
        "DATABASE_URL": "postgresql://postgres:not-a-password@users-db:5432/users_prod",
        "SECRET_KEY": "not-a-secret"}
    assert migrate["command"] == ["/bin/sh", "./entrypoint.sh", "python", "manage.py", "db",
                                  "upgrade"]
    # The image's healthcheck asks gunicorn, which the one-shot never starts.
    assert migrate["healthcheck"]["disable"] is True
    assert migrate["build"] == prod["services"]["users"]["build"]


def test_prod_users_can_be_scaled(prod):
    """Ensure prod's users have no container name and no host port, so `--scale` works."""
    users = prod["services"]["users"]
    assert "container_name" not in users and "ports" not in users
    assert users["expose"] == ["5000", "9101"]


def test_prod_mounts_no_code_and_publishes_only_nginx(prod):
    """Ensure prod has no bind mounts and only nginx's port 80 is published."""
    for name, service in prod["services"].items():
        assert all(volume["type"] != "bind" for volume in service.get("volumes", [])), name
        assert published(service) == ({(None, "80", 80)} if name == "nginx" else set()), name


def test_prod_keeps_the_database_off_the_edge(prod):
    """Ensure nginx and the client share no network with the database or PgBouncer, whose
    network is internal; the replicas and the one-shot reach what they need."""
    networks = {name: set(service["networks"]) for name, service in prod["services"].items()}
    assert networks == {"nginx": {"edge"}, "client": {"edge"}, "users": {"edge", "data"},
                        ONE_SHOT: {"data"}, "pgbouncer": {"data"}, "users-db": {"data"}}
    for edge_service in ("nginx", "client"):
        for data_service in ("users-db", "pgbouncer"):
            assert not networks[edge_service] & networks[data_service]
    assert prod["networks"]["data"]["internal"] is True
    assert prod["networks"]["edge"].get("internal", False) is False


def test_prod_builds_the_prod_images(prod):
    """Ensure prod builds every service from its production Dockerfile."""
    dockerfiles = {name: service["build"]["dockerfile"]
                   for name, service in prod["services"].items()}
    assert dockerfiles == {"users": "Dockerfile-prod", ONE_SHOT: "Dockerfile-prod",
                           "users-db": "Dockerfile", "pgbouncer": "Dockerfile",
                           "nginx": "Dockerfile-prod", "client": "Dockerfile-prod"}
    assert prod["services"]["pgbouncer"]["build"]["context"] == str(PGBOUNCER_DIR)


def test_prod_restarts_every_service(prod):
    """Ensure every long-running production service restarts unless stopped; the one-shot never."""
    policies = {name: service.get("restart") for name, service in prod["services"].items()}
    assert policies.pop(ONE_SHOT) == "no"
    assert set(policies.values()) == {"unless-stopped"}


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
    """Ensure the one-shot waits for a healthy database, users for it, nginx for users."""
    services = {"dev": dev, "prod": prod}[which]["services"]
    test = services["users-db"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "pg_isready", "-h"]

    def conditions(name):
        return {needed: how["condition"] for needed, how in services[name]["depends_on"].items()}
    assert conditions(ONE_SHOT) == {"users-db": "service_healthy"}
    users = {ONE_SHOT: "service_completed_successfully"}
    if which == "prod":
        users["pgbouncer"] = "service_healthy"
        assert conditions("pgbouncer") == {"users-db": "service_healthy"}
    assert conditions("users") == users
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
                                        "services/pgbouncer/Dockerfile",
                                        "services/nginx/Dockerfile-dev",
                                        "services/nginx/Dockerfile-prod"])
def test_other_images_are_pinned(dockerfile):
    """Ensure the PostgreSQL, PgBouncer and nginx images are pinned to a release."""
    assert PINNED_IMAGE.search((REPO / dockerfile).read_text())


def test_database_image_runs_create_sql_then_roles_sh():
    """Ensure the database image copies create.sql, log_settings.sql and an executable
    roles.sh to the init dir.

    The image runs its init files in name order, and a script it can execute as a
    program rather than sourcing it into its own shell.
    """
    text = (USERS_DIR / "project" / "db" / "Dockerfile").read_text()
    copies = re.findall(r"^COPY (.*) /docker-entrypoint-initdb\.d/$", text, re.MULTILINE)
    assert copies == ["create.sql log_settings.sql", "--chmod=755 roles.sh"]


def test_pgbouncer_image():
    """Ensure the PgBouncer image: the pinned package and config, non-root, SIGINT to stop."""
    text = (PGBOUNCER_DIR / "Dockerfile").read_text()
    assert "pgbouncer=1.18.0-1+deb12u1" in text
    assert "COPY pgbouncer.ini /etc/pgbouncer/pgbouncer.ini" in text
    assert "COPY entrypoint.sh /usr/local/bin/pgbouncer-entrypoint.sh" in text
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/pgbouncer-entrypoint\.sh"\]$', text,
                     re.MULTILINE)
    assert re.search(r"^USER 999:999$", text, re.MULTILINE)
    assert re.search(r'CMD \["pg_isready", "-h", "127\.0\.0\.1", "-p", "6432"\]', text)
    assert "install -d -o 999 -g 999 -m 700 /run/pgbouncer" in text
    assert re.search(r"^STOPSIGNAL SIGINT$", text, re.MULTILINE)


def test_the_stack_test_runs_the_pinned_pgbouncer():
    """Ensure the Debian pgbouncer the stack test runs is the version the image pins."""
    pinned = re.search(r"pgbouncer=(\S+)", (PGBOUNCER_DIR / "Dockerfile").read_text()).group(1)
    installed = run(["dpkg-query", "-W", "-f=${Version}", "pgbouncer"])
    assert installed.returncode == 0, shown(installed)
    assert installed.stdout == pinned


def pgbouncer_settings():
    """Return the committed pgbouncer.ini as {section: {name: value}}."""
    settings, section = {}, None
    for line in (PGBOUNCER_DIR / "pgbouncer.ini").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            section = settings.setdefault(line.strip("[]"), {})
        else:
            name, _, value = line.partition("=")
            section[name.strip()] = value.strip()
    return settings


def test_pgbouncer_config_fits_the_topology(prod):
    """Ensure pgbouncer.ini serves users_prod on users-db, where users look, within the role."""
    settings = pgbouncer_settings()
    assert settings["databases"] == {
        "users_prod": "host=users-db port=5432 dbname=users_prod"}
    pgbouncer = settings["pgbouncer"]
    assert (pgbouncer["pool_mode"], pgbouncer["auth_type"]) == ("transaction", "scram-sha-256")
    assert pgbouncer["listen_port"] == "6432" and prod["services"]["pgbouncer"]["expose"] == [
        "6432"]
    assert pgbouncer["auth_file"] == "/run/pgbouncer/userlist.txt"
    # What the users service needs is SET LOCAL: no startup parameter, no session state.
    assert "ignore_startup_parameters" not in pgbouncer
    roles = (USERS_DIR / "project" / "db" / "roles.sh").read_text()
    limit = int(re.search(r"CONNECTION LIMIT (\d+)", roles).group(1))
    assert int(pgbouncer["default_pool_size"]) < limit


def dockerignore_patterns():
    return [line.strip() for line in (USERS_DIR / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_dockerignore_keeps_migrations():
    """Ensure .dockerignore lets migrations/ into the image (the course's left it out)."""
    patterns = dockerignore_patterns()
    for path in ("migrations", "migrations/env.py", "migrations/versions/x.py", "manage.py",
                 "gunicorn.conf.py", "entrypoint.sh", "entrypoint-prod.sh"):
        assert not any(fnmatch.fnmatch(path, pattern) for pattern in patterns), path
    assert "instance" in patterns and ".venv" in patterns


def test_dockerignore_keeps_the_test_harness_out():
    """Ensure the tests' harness (services/users/harness) stays out of the images."""
    assert "harness" in dockerignore_patterns()


@pytest.mark.parametrize("script", ["services/users/entrypoint.sh",
                                    "services/users/entrypoint-prod.sh",
                                    "services/users/project/db/roles.sh",
                                    "services/pgbouncer/entrypoint.sh"])
def test_entrypoints_are_lf_and_executable_in_git(script):
    """Ensure git checks the entrypoints and roles.sh out with LF endings and executable."""
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
    # The app writes the access lines itself, with their request IDs (docs/operating.md).
    assert settings["accesslog"] == "None" and settings["errorlog"] == "-"
    assert "JsonLinesLogger" in settings["logger_class"]
    assert settings["graceful_timeout"] == "20"
    assert settings["limit_request_line"] == "8190"
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
