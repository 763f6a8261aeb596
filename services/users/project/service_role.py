"""The service's own database role, and what a revision grants it.

Production's replicas connect as `users_service` (project/db/roles.sh), which gets no
default privileges: a table or sequence is closed to it until the revision that creates
it grants what the service needs, with `grant_to_service`. So the migrations' own
`alembic_version`, and any table a later revision adds without a grant, stay out of its
reach. Databases without the role (development, tests) skip the grants.
"""

SERVICE_ROLE = "users_service"


def when_the_role_exists(statements):
    """Return one PostgreSQL statement running `statements` if the service role exists."""
    body = "\n".join(f"    {statement};" for statement in statements)
    return (f"DO $$\nBEGIN\n  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{SERVICE_ROLE}')"
            f" THEN\n{body}\n  END IF;\nEND $$")


def grant_to_service(op, table, privileges, sequence=None):
    """Grant `privileges` (e.g. "SELECT, INSERT") on `table`, and USAGE on `sequence`."""
    statements = [f"GRANT {privileges} ON TABLE {table} TO {SERVICE_ROLE}"]
    if sequence:
        statements.append(f"GRANT USAGE ON SEQUENCE {sequence} TO {SERVICE_ROLE}")
    op.execute(when_the_role_exists(statements))


def revoke_from_service(op, table, sequence=None):
    """Take back every privilege on `table` (and `sequence`) from the service role."""
    statements = [f"REVOKE ALL ON TABLE {table} FROM {SERVICE_ROLE}"]
    if sequence:
        statements.append(f"REVOKE ALL ON SEQUENCE {sequence} FROM {SERVICE_ROLE}")
    op.execute(when_the_role_exists(statements))
