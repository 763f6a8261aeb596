#!/bin/sh
# Start a users service container: wait for its database (DB_WAIT_TIMEOUT seconds, 60 by
# default), then replace this shell with the command so that the command itself gets the
# container's signals. The command is Flask's development server unless one is given:
# entrypoint-prod.sh gives gunicorn, the compose files' users-migrate service gives
# `python manage.py db upgrade`. Migrations are that one-shot service's job, once per
# deploy, never every replica's.
set -eu
cd "$(dirname "$0")"

python - <<'PY'
"""Wait until DATABASE_URL's PostgreSQL accepts a connection, or give up clearly."""
import os
import sys
import time

import psycopg2
from sqlalchemy.engine import make_url

url = make_url(os.environ.get("DATABASE_URL") or "sqlite://")
if url.get_backend_name() not in ("postgres", "postgresql"):
    sys.exit(0)
timeout = float(os.environ.get("DB_WAIT_TIMEOUT", "60"))
where = f"{url.host}:{url.port or 5432}/{url.database}"
print(f"Waiting up to {timeout:g} s for PostgreSQL at {where}...", flush=True)
deadline = time.monotonic() + timeout
while True:
    try:
        psycopg2.connect(host=url.host, port=url.port, user=url.username,
                         password=url.password, dbname=url.database,
                         connect_timeout=3).close()
        break
    except psycopg2.OperationalError as error:
        if time.monotonic() >= deadline:
            reason = " ".join(str(error).split())
            sys.exit(f"PostgreSQL at {where} did not accept a connection within "
                     f"{timeout:g} s; giving up. Last error: {reason}")
        time.sleep(1)
print("PostgreSQL is up.", flush=True)
PY

if [ "$#" -eq 0 ]; then
  set -- python manage.py run -h 0.0.0.0
fi
exec "$@"
