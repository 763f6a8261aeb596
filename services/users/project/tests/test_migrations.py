"""The migrations: from empty, down to base and back, no drift, duplicates refused."""

import os
import tempfile
import unittest

from sqlalchemy import create_engine, inspect, text

from project.tests.support import child_env, run_manage, scratch_database

FIRST = "0001_create_users"
HEAD = "0002_unique_username_email"
DUPLICATE_ROWS = [("michael", "a@mherman.org"), ("michael", "b@mherman.org"),
                  ("fletcher", "b@mherman.org"), ("solo", "solo@mherman.org")]


class MigrationChecks:
    """Checks run on each database kind; subclasses provide `self.url`."""

    def manage(self, *args):
        return run_manage(*args, env=child_env(DATABASE_URL=self.url))

    def assert_ok(self, *args):
        result = self.manage(*args)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result

    def inspect(self, action):
        engine = create_engine(self.url)
        try:
            with engine.connect() as connection:
                return action(connection)
        finally:
            engine.dispose()

    def tables(self):
        return set(self.inspect(lambda c: inspect(c).get_table_names()))

    def unique_constraints(self):
        return self.inspect(lambda c: {
            u["name"]: u["column_names"] for u in inspect(c).get_unique_constraints("users")
        })

    def version(self):
        return self.inspect(
            lambda c: c.execute(text("select version_num from alembic_version")).scalar()
        )

    def test_upgrade_downgrade_upgrade_check(self):
        """Ensure upgrade from empty, downgrade base, upgrade again and check all pass."""
        self.assert_ok("db", "upgrade")
        self.assertEqual(self.version(), HEAD)
        self.assert_ok("db", "check")
        self.assert_ok("db", "downgrade", "base")
        self.assertEqual(self.tables(), {"alembic_version"})
        self.assert_ok("db", "upgrade")
        result = self.assert_ok("db", "check")
        self.assertIn("No new upgrade operations detected.", result.stdout + result.stderr)

    def test_constraints_are_named_as_the_course_shows(self):
        """Ensure the unique constraints are users_email_key and users_username_key."""
        self.assert_ok("db", "upgrade")
        self.assertEqual(
            self.unique_constraints(),
            {"users_email_key": ["email"], "users_username_key": ["username"]},
        )
        pk = self.inspect(lambda c: inspect(c).get_pk_constraint("users"))
        self.assertEqual(pk["constrained_columns"], ["id"])

    def test_downgrade_one_step_drops_constraints(self):
        """Ensure downgrading the second revision removes only the constraints."""
        self.assert_ok("db", "upgrade")
        self.assert_ok("db", "downgrade")
        self.assertEqual(self.version(), FIRST)
        self.assertEqual(self.unique_constraints(), {})

    def test_upgrade_refuses_duplicates_and_changes_nothing(self):
        """Ensure existing duplicates stop the upgrade with a message naming them."""
        self.assert_ok("db", "upgrade", FIRST)
        insert = text("insert into users (username, email) values (:u, :e)")

        def add_rows(connection):
            for username, email in DUPLICATE_ROWS:
                connection.execute(insert, {"u": username, "e": email})
            connection.commit()

        self.inspect(add_rows)
        result = self.manage("db", "upgrade")
        self.assertEqual(result.returncode, 1)
        output = result.stdout + result.stderr
        self.assertIn("username 'michael' (2 rows)", output)
        self.assertIn("email 'b@mherman.org' (2 rows)", output)
        self.assertNotIn("Traceback", output)
        self.assertEqual(self.version(), FIRST)
        self.assertEqual(self.unique_constraints(), {})
        count = self.inspect(lambda c: c.execute(text("select count(*) from users")).scalar())
        self.assertEqual(count, len(DUPLICATE_ROWS))


class TestPostgresMigrations(MigrationChecks, unittest.TestCase):

    def setUp(self):
        self.url = self.enterContext(scratch_database("migrations"))

    def test_psql_shows_unique_constraints(self):
        """Ensure PostgreSQL records them as UNIQUE constraints, as `\\d users` prints."""
        self.assert_ok("db", "upgrade")
        rows = self.inspect(lambda c: c.execute(text(
            "select conname, contype from pg_constraint "
            "where conrelid = 'users'::regclass order by conname"
        )).all())
        self.assertEqual(
            [tuple(row) for row in rows],
            [("users_email_key", "u"), ("users_pkey", "p"), ("users_username_key", "u")],
        )


class TestSqliteMigrations(MigrationChecks, unittest.TestCase):

    def setUp(self):
        folder = self.enterContext(tempfile.TemporaryDirectory())
        self.url = "sqlite:///" + os.path.join(folder, "users.db")


if __name__ == "__main__":
    unittest.main()
