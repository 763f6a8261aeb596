"""Reading and writing users; the database's constraints decide duplicates.

The statements are SQLAlchemy Core, built once. They run on the app's query path:
`project.fast_path` (psycopg2's cursor, the default on PostgreSQL) or its plain twin
`project.session_path` (`db.session.execute`), chosen by DATABASE_FAST_PATH.
"""

from flask import current_app
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from project.api.models import PUBLIC_FIELDS, User, user_json
from project.errors import APIError

# Where `create_app` keeps the app's query path (`register_query_path`).
QUERY_PATH = "users.query_path"
# Users per query when listing them all (`user_batches`).
USERS_PER_BATCH = 2000
# Users on one screen of the HTML page (`users_page`).
USERS_PER_PAGE = 50
# The most users one page of the API holds (`GET /users?limit=`), and its default.
MAX_API_PAGE = 100
# The largest value PostgreSQL's `integer` holds; beyond it no user can exist.
MAX_USER_ID = 2**31 - 1
USERS = User.__table__
# Core, not the ORM: reads change nothing and an insert has nothing to track, while
# building ORM objects (and flushing one) was most of the time a request took.
PUBLIC_USERS = select(*(USERS.c[field] for field in PUBLIC_FIELDS))
USER_BY_ID = PUBLIC_USERS.where(USERS.c.id == bindparam("id"))
USERS_AFTER = (PUBLIC_USERS.where(USERS.c.id > bindparam("after"))
               .order_by(USERS.c.id).limit(bindparam("size")))
# Inline: nothing to read back (no RETURNING of the new id).
INSERT_USER = insert(USERS).inline().values(username=bindparam("username"),
                                            email=bindparam("email"))
EMAIL_TAKEN = select(USERS.c.id).where(USERS.c.email == bindparam("email")).limit(1)
DUPLICATE_MESSAGES = {
    "email": "Sorry. That email already exists.",
    "username": "Sorry. That username already exists.",
}


def query_path():
    """Return the current app's query path (`FastPath` or `SessionPath`)."""
    return current_app.extensions[QUERY_PATH]


def create_user(username, email):
    """Insert a user; a taken email or username raises a 400 `APIError`."""
    try:
        query_path().write(INSERT_USER, username=username, email=email)
    except IntegrityError as error:
        field = duplicated_field(error)
        if field is None:
            raise
        # The course checks the email first: a username and an email both taken is
        # "That email already exists.", whichever constraint the database tried first.
        if field == "username" and query_path().rows(EMAIL_TAKEN, email=email):
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
    number = whole_number(user_id, 1, MAX_USER_ID)
    if number is None:
        return None
    found = query_path().rows(USER_BY_ID, id=number)
    return user_json(found[0]) if found else None


def parse_after(text):
    """Return the user id `text` names as a page's start (0: the first page), or None."""
    if text is None:
        return 0
    return whole_number(text, 0, MAX_USER_ID)


def parse_limit(text):
    """Return the page size `text` asks for (unset: `MAX_API_PAGE`), or None if it is not
    a whole number from 1 to `MAX_API_PAGE`."""
    if text is None:
        return MAX_API_PAGE
    return whole_number(text, 1, MAX_API_PAGE)


def whole_number(text, lowest, highest):
    """Return the ASCII digits `text` as a number from `lowest` to `highest`, or None."""
    if not (text.isascii() and text.isdigit()):
        return None
    # More digits than `highest` has is too big, even before Python refuses to read
    # a number of over 4,300 digits.
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(highest)):
        return None
    number = int(digits)
    return number if lowest <= number <= highest else None


def users_page(after, size=USERS_PER_PAGE):
    """Return up to `size` users with ids above `after`, in id order, and whether more
    follow: one keyset query, however big the table."""
    rows = query_path().rows(USERS_AFTER, after=after, size=size + 1)
    return [user_json(row) for row in rows[:size]], len(rows) > size


def user_batches(size):
    """Yield every user, ordered by id, in lists of at most `size`, as `User.to_json`
    shows them.

    One query per batch, each starting after the last id seen: listing a big table
    costs a worker the memory of one batch, and a small table still takes one query.
    A batch shorter than `size` is the last.
    """
    path = query_path()
    after = 0
    while True:
        batch = [user_json(row) for row in path.rows(USERS_AFTER, after=after, size=size)]
        if batch:
            yield batch
        if len(batch) < size:
            return
        after = batch[-1]["id"]
