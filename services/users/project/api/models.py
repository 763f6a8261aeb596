"""The `users` table."""

from sqlalchemy import String, true
from sqlalchemy.orm import Mapped, mapped_column

from project.extensions import db

NAME_LENGTH = 128
# The columns the API shows of a user, in the order `user_json` takes them: to show a new
# column, add it here and there.
PUBLIC_FIELDS = ("id", "username", "email", "active")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    email: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())

    def to_json(self):
        return user_json(tuple(getattr(self, field) for field in PUBLIC_FIELDS))


def user_json(row):
    """Show a user as the API does, from its `PUBLIC_FIELDS` in order (a row the store read)."""
    user_id, username, email, active = row
    return {"id": user_id, "username": username, "email": email, "active": active}
