#!/usr/bin/env bash
# Containers without a Docker engine: the compose files, Dockerfiles, scripts, nginx confs
# and .travis.yml through their checkers, then the production stack as processes on
# loopback (tests/stack): PostgreSQL, the migration one-shot, Debian's pgbouncer (the
# package services/pgbouncer/Dockerfile pins), gunicorn replicas and nginx; nftables drops
# packets to the private PostgreSQL for the half-open fault test.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

apt_install nginx shellcheck postgresql postgresql-client pgbouncer nftables gettext-base
venv .ci/venv-stack/tools python3 tests/stack/requirements.txt
# The service as Dockerfile-prod installs it (runtime requirements only), from a Python
# that the image's non-root user may run.
app_python=/usr/bin/python3
[ -x "$app_python" ] || app_python=python3
venv .ci/venv-stack/app "$app_python" services/users/requirements.txt

.ci/venv-stack/tools/bin/pytest tests/stack
