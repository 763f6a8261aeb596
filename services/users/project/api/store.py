"""Reading and writing users; the database's constraints decide duplicates."""

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from project.api.models import PUBLIC_FIELDS, User
from project.connections import api_cursor
from project.errors import APIError
from project.statements import Statement

# Users per query when listing them all (`user_batches`).
USERS_PER_BATCH = 2000
# The largest value PostgreSQL's `integer` holds; beyond it no user can exist.
MAX_USER_ID = 2**31 - 1
USERS = User.__table__
# Core, not the ORM: reads change nothing, and an insert has nothing to track, while
# building ORM objects (and flushing one) was most of the time a request took. Built and
# compiled once, and run on the driver's cursor (`project.statements`).
PUBLIC_USERS = select(*(USERS.c[field] for field in PUBLIC_FIELDS))
USER_BY_ID = Statement(PUBLIC_USERS.where(USERS.c.id == bindparam("id")))
ALL_USERS = Statement(PUBLIC_USERS.order_by(USERS.c.id))
USERS_AFTER = Statement(PUBLIC_USERS.order_by(USERS.c.id)
                        .where(USERS.c.id > bindparam("after")).limit(bindparam("size")))
# Inline: nothing to read back (no RETURNING of the new id).
INSERT_USER = Statement(insert(USERS).inline().values(username=bindparam("username"),
                                                      email=bindparam("email")))
EMAIL_TAKEN = Statement(select(USERS.c.id).where(USERS.c.email == bindparam("email"))
                        .limit(1))
DUPLICATE_MESSAGES = {
    "email": "Sorry. That email already exists.",
    "username": "Sorry. That username already exists.",
}


def create_user(username, email):
    """Insert a user; a taken email or username raises a 400 `APIError`."""
    try:
        with api_cursor() as cursor:
            cursor.run(INSERT_USER, username=username, email=email)
    except IntegrityError as error:
        field = duplicated_field(error)
        if field is None:
            raise
        # The course checks the email first: a username and an email both taken is
        # "That email already exists.", whichever constraint the database tried first.
        if field == "username" and read(EMAIL_TAKEN, email=email):
            field = "email"
        raise APIError(DUPLICATE_MESSAGES[field]) from None


def duplicated_field(error):
    """Name the unique column `error` is about, in PostgreSQL's or SQLite's words."""
    text = str(error.orig)
    for field in DUPLICATE_MESSAGES:
        if f"users_{field}_key" in text or f"users.{field}" in text:
            return field
    return None


def find_user(user_id):
    """Return the user whose id is the text `user_id` as `User.to_json` shows it, or None."""
    if not (user_id.isascii() and user_id.isdigit()):
        return None
    number = int(user_id)
    if not 1 <= number <= MAX_USER_ID:
        return None
    found = read(USER_BY_ID, id=number)
    return found[0] if found else None


def all_users():
    """Return every user, ordered by id, as `User.to_json` shows them."""
    return read(ALL_USERS)


def user_batches(size):
    """Yield every user, ordered by id, in lists of at most `size` (as `all_users`).

    One query per batch, each starting after the last id seen: listing a big table
    costs a worker the memory of one batch, and a small table still takes one query.
    A batch shorter than `size` is the last.
    """
    with api_cursor() as cursor:
        after = 0
        while True:
            batch = cursor.run(USERS_AFTER, after=after, size=size)
            if batch:
                yield batch
            if len(batch) < size:
                return
            after = batch[-1]["id"]


def read(statement, **params):
    """Run a read-only `statement` on a pooled connection; return its rows as dicts."""
    with api_cursor() as cursor:
        return cursor.run(statement, **params)
