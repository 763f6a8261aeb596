"""Make username and email unique.

Stops, changing nothing, when existing rows already share a username or an email:
those must be resolved first.

Revision ID: 0002_unique_username_email
Revises: 0001_create_users
Create Date: 2026-11-24 09:05:00
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_unique_username_email"
down_revision = "0001_create_users"
branch_labels = None
depends_on = None

UNIQUE_COLUMNS = ("username", "email")


def duplicates(column):
    """Return `(value, count)` for each value of `column` that rows share."""
    users = sa.table("users", sa.column(column))
    value = users.c[column]
    query = (
        sa.select(value, sa.func.count())
        .group_by(value)
        .having(sa.func.count() > 1)
        .order_by(value)
    )
    return op.get_bind().execute(query).all()


def refuse_duplicates():
    found = {column: duplicates(column) for column in UNIQUE_COLUMNS}
    problems = [
        f"{column} {value!r} ({count} rows)"
        for column, rows in found.items()
        for value, count in rows
    ]
    if problems:
        # Flask-Migrate prints a RuntimeError as "Error: ..." and exits 1.
        raise RuntimeError(
            "Cannot make username and email unique; resolve these duplicates first: "
            + "; ".join(problems)
        )


def upgrade():
    refuse_duplicates()
    with op.batch_alter_table("users") as batch_op:
        batch_op.create_unique_constraint(batch_op.f("users_username_key"), ["username"])
        batch_op.create_unique_constraint(batch_op.f("users_email_key"), ["email"])


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(batch_op.f("users_email_key"), type_="unique")
        batch_op.drop_constraint(batch_op.f("users_username_key"), type_="unique")
