#!/bin/sh
# Start the users service in production: entrypoint.sh's bounded wait for PostgreSQL and
# its one `db upgrade`, then gunicorn with the committed config, exec'd so it gets the
# signals. Never recreate_db here: production data stays.
set -eu
cd "$(dirname "$0")"
exec /bin/sh ./entrypoint.sh gunicorn --config gunicorn.conf.py manage:app
