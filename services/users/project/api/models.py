"""The `users` table."""

from sqlalchemy import String, true
from sqlalchemy.orm import Mapped, mapped_column

from project.extensions import db

NAME_LENGTH = 128
# What the API shows of a user: `to_json`'s keys, and the columns the store reads for it.
PUBLIC_FIELDS = ("id", "username", "email", "active")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    email: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    active: Mapped[bool] = mapped_column(default=True, server_default=true())

    def to_json(self):
        return {field: getattr(self, field) for field in PUBLIC_FIELDS}
