"""Grant the service role what it needs on users, and nothing else.

The service reads and adds users (SELECT, INSERT, and the id sequence); it never
updates, deletes or touches the migrations' alembic_version. Databases that an earlier
roles.sh gave default privileges keep none of them: this revision takes them back, on
alembic_version too. A no-op where the role does not exist (development, tests) and on
SQLite.

Revision ID: 0003_grant_service_role
Revises: 0002_unique_username_email
Create Date: 2026-12-07 13:40:00
"""
from alembic import op

from project.service_role import (SERVICE_ROLE, grant_to_service, revoke_from_service,
                                  when_the_role_exists)

revision = "0003_grant_service_role"
down_revision = "0002_unique_username_email"
branch_labels = None
depends_on = None
# Grants only: SQLite has no roles (test_migrations expects no change there).
POSTGRESQL_ONLY = True


def upgrade():
    if op.get_context().dialect.name != "postgresql":
        return
    op.execute(when_the_role_exists([
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM {SERVICE_ROLE}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM {SERVICE_ROLE}",
    ]))
    revoke_from_service(op, "alembic_version")
    revoke_from_service(op, "users", sequence="users_id_seq")
    grant_to_service(op, "users", "SELECT, INSERT", sequence="users_id_seq")


def downgrade():
    if op.get_context().dialect.name != "postgresql":
        return
    revoke_from_service(op, "users", sequence="users_id_seq")
