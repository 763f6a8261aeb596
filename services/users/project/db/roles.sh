#!/bin/sh
# The users service's own login role, for production (docker-compose-prod.yml): it
# connects as users_service through PgBouncer, while migrations run as the schema's
# owner (postgres). users_service is no superuser, owns nothing, may open at most 80
# connections (the rest of max_connections stays for migrations and people), may connect
# to users_prod only, and has no privilege on any table until a revision grants it one
# (migrations/versions/0003_...): SELECT and INSERT on users, never alembic_version.
#
# The postgres image runs this once, after create.sql, when the data volume is empty.
# It is safe to run again by hand on an older volume (`docker compose exec users-db sh
# /docker-entrypoint-initdb.d/roles.sh`, with USERS_SERVICE_PASSWORD set). Development
# sets no password and connects as postgres: then there is nothing to do.
#
# No `exit` and no `set`: the image sources an init script that is not executable.
if [ -z "${USERS_SERVICE_PASSWORD:-}" ]; then
  echo "roles.sh: no USERS_SERVICE_PASSWORD; the service connects as ${POSTGRES_USER:-postgres}."
else
  psql -v ON_ERROR_STOP=1 -X -q --username "${POSTGRES_USER:-postgres}" \
    --dbname users_prod -v owner="${POSTGRES_USER:-postgres}" \
    -v password="$USERS_SERVICE_PASSWORD" <<'SQL'
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'users_service') AS missing \gset
\if :missing
CREATE ROLE users_service;
\endif
ALTER ROLE users_service WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT
  CONNECTION LIMIT 80 PASSWORD :'password';
-- Its errors reach the log as their message alone (with the SQLSTATE, log_settings.sql):
-- no DETAIL (a unique violation's holds the duplicate email) and no statement (which
-- holds the values sent).
ALTER ROLE users_service SET log_error_verbosity = terse;
ALTER ROLE users_service SET log_min_error_statement = panic;
REVOKE ALL ON DATABASE users_prod, users_dev, users_test, postgres, template1 FROM PUBLIC;
GRANT CONNECT ON DATABASE users_prod TO users_service;
-- What an earlier roles.sh granted by default; each revision now grants what it needs.
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  REVOKE ALL ON TABLES FROM users_service;
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public
  REVOKE ALL ON SEQUENCES FROM users_service;
SQL
  echo "roles.sh: users_service may connect to users_prod (at most 80 connections)."
fi
