#!/bin/sh
# Start the users service in production: entrypoint.sh's bounded wait for its database
# (PgBouncer, in docker-compose-prod.yml), then gunicorn with the committed config, exec'd
# so it gets the signals. The schema is the users-migrate service's to upgrade, before
# any replica starts; never recreate_db here: production data stays.
set -eu
cd "$(dirname "$0")"
exec /bin/sh ./entrypoint.sh gunicorn --config gunicorn.conf.py manage:app
