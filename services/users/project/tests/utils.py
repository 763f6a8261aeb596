"""Helpers shared by the tests."""

from project import db
from project.api.models import User


def add_user(username, email):
    """Insert and commit a user, returning it."""
    user = User(username=username, email=email)
    db.session.add(user)
    db.session.commit()
    return user
