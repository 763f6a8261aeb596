"""The plain path: the store's statements on Flask-SQLAlchemy's session.

What the course would write, and the twin of `project.fast_path`: the same store
functions run on either, and the unit suite passes on both. It serves where the fast
path is off (DATABASE_FAST_PATH=off) and on SQLite.
"""

from project.extensions import db


class SessionPath:
    """Run Core statements with `db.session.execute`."""

    def rows(self, statement, **params):
        """Run a read; return its rows as tuples."""
        return [tuple(row) for row in db.session.execute(statement, params)]

    def write(self, statement, **params):
        """Run a write and commit it; a write that fails is rolled back."""
        try:
            db.session.execute(statement, params)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise

    def release(self):
        """Nothing to hand back: the session gives its connection back when it ends."""
