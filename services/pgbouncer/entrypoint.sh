#!/bin/sh
# Start PgBouncer with the committed pgbouncer.ini: write the service role's password
# (USERS_SERVICE_PASSWORD) into the auth file it names, readable by PgBouncer's user only,
# then exec PgBouncer in the foreground so that it gets the container's signals.
set -eu
: "${USERS_SERVICE_PASSWORD:?set USERS_SERVICE_PASSWORD}"
umask 077
# The auth file's format: "role" "password", a double quote doubled.
printf '"users_service" "%s"\n' "$(printf '%s' "$USERS_SERVICE_PASSWORD" | sed 's/"/""/g')" \
  > /run/pgbouncer/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
