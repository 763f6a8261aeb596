"""Grant the service role what it needs on users, and nothing else.

Production's replicas connect as users_service (project/db/roles.sh), which gets no
default privileges: each revision that creates a table grants the service what it
needs there, as this one does for users (SELECT, INSERT and the id sequence; never
UPDATE or DELETE). So alembic_version, and a table a later revision adds without a
grant, stay out of its reach; a column added to users is in it. Databases an earlier
roles.sh gave default privileges keep none: this revision takes them back. A no-op
where the role does not exist (development, tests) and on SQLite, which has no roles.

Revision ID: 0003_grant_service_role
Revises: 0002_unique_username_email
Create Date: 2026-12-07 13:40:00
"""
from alembic import op

revision = "0003_grant_service_role"
down_revision = "0002_unique_username_email"
branch_labels = None
depends_on = None
# Grants only: nothing changes on SQLite (test_migrations expects that).
POSTGRESQL_ONLY = True

SERVICE_ROLE = "users_service"


def if_the_role_exists(*statements):
    """Run `statements` in one PostgreSQL statement, if the service role exists."""
    body = "\n".join(f"    {statement};" for statement in statements)
    op.execute(f"DO $$\nBEGIN\n  IF EXISTS (SELECT FROM pg_roles WHERE rolname = "
               f"'{SERVICE_ROLE}') THEN\n{body}\n  END IF;\nEND $$")


def upgrade():
    if op.get_context().dialect.name != "postgresql":
        return
    if_the_role_exists(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {SERVICE_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {SERVICE_ROLE}",
        f"REVOKE ALL ON TABLE alembic_version FROM {SERVICE_ROLE}",
        f"REVOKE ALL ON TABLE users FROM {SERVICE_ROLE}",
        f"GRANT SELECT, INSERT ON TABLE users TO {SERVICE_ROLE}",
        f"GRANT USAGE ON SEQUENCE users_id_seq TO {SERVICE_ROLE}",
    )


def downgrade():
    if op.get_context().dialect.name != "postgresql":
        return
    if_the_role_exists(
        f"REVOKE ALL ON TABLE users FROM {SERVICE_ROLE}",
        f"REVOKE ALL ON SEQUENCE users_id_seq FROM {SERVICE_ROLE}",
    )
