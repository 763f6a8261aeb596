"""The plain path: the store's statements on Flask-SQLAlchemy's session.

What the course would write, and the twin of `project.fast_path`: the same store
functions run on either, and the unit suite passes on both. It serves where the fast
path is off (DATABASE_FAST_PATH=off) and on SQLite.
"""

from project.extensions import db
from project.metrics import NO_POOL_WATCH


class SessionPath:
    """Run Core statements with `db.session.execute`."""

    def __init__(self, pool_watch=NO_POOL_WATCH):
        self.pool_watch = pool_watch

    def rows(self, statement, **params):
        """Run a read; return its rows as tuples."""
        self.before_statement()
        return [tuple(row) for row in db.session.execute(statement, params)]

    def write(self, statement, **params):
        """Run a write and commit it; a write that fails is rolled back."""
        self.before_statement()
        try:
            db.session.execute(statement, params)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise

    def before_statement(self):
        """A session outside a transaction checks a connection out for the statement."""
        if not db.session().in_transaction():
            self.pool_watch.before_checkout()

    def release(self):
        """Nothing to hand back: the session gives its connection back when it ends."""
