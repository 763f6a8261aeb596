#!/bin/sh
# Start the users service in production: entrypoint.sh's bounded wait for its database
# (PgBouncer, in docker-compose-prod.yml), then gunicorn with the committed config, exec'd
# so it gets the signals. The schema is the users-migrate service's to upgrade, before
# any replica starts; never recreate_db here: production data stays. The master serves
# the metrics on METRICS_PORT (9101).
set -eu
cd "$(dirname "$0")"
# The workers' metrics files (project.metrics), in memory; set here, for gunicorn only, so
# that no other command run in the container writes any.
export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/dev/shm/users-metrics}"
exec /bin/sh ./entrypoint.sh gunicorn --config gunicorn.conf.py manage:app
