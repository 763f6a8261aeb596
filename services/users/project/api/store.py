"""Reading and writing users; the database's constraints decide duplicates."""

from sqlalchemy.exc import IntegrityError

from project.api.models import User
from project.errors import APIError
from project.extensions import db

# The largest value PostgreSQL's `integer` holds; beyond it no user can exist.
MAX_USER_ID = 2**31 - 1
DUPLICATE_MESSAGES = {
    "email": "Sorry. That email already exists.",
    "username": "Sorry. That username already exists.",
}


def create_user(username, email):
    """Insert a user; a taken email or username raises a 400 `APIError`."""
    user = User(username=username, email=email)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        field = duplicated_field(error)
        if field is None:
            raise
        raise APIError(DUPLICATE_MESSAGES[field]) from None
    return user


def duplicated_field(error):
    """Name the unique column `error` is about, in PostgreSQL's or SQLite's words."""
    text = str(error.orig)
    for field in DUPLICATE_MESSAGES:
        if f"users_{field}_key" in text or f"users.{field}" in text:
            return field
    return None


def find_user(user_id):
    """Return the user whose id is the text `user_id`, or None."""
    if not (user_id.isascii() and user_id.isdigit()):
        return None
    number = int(user_id)
    if not 1 <= number <= MAX_USER_ID:
        return None
    return db.session.get(User, number)


def all_users():
    """Return every user, ordered by id."""
    return db.session.scalars(db.select(User).order_by(User.id)).all()
