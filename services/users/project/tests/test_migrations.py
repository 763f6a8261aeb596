"""The migrations: every revision up, down and up again, no drift, duplicates refused.

The history is read from the scripts in migrations/versions, never from revision names,
so a revision a student adds (the next lesson's new column) is checked like the others.
"""

import os
import tempfile
import unittest

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from project import MIGRATIONS_DIR
from project.tests.base import test_database_url
from project.tests.support import child_env, run_manage, scratch_database

DUPLICATE_ROWS = [("michael", "a@mherman.org"), ("michael", "b@mherman.org"),
                  ("fletcher", "b@mherman.org"), ("solo", "solo@mherman.org")]
COURSE_CONSTRAINTS = {"users_email_key": ["email"], "users_username_key": ["username"]}
# Production's role for the service (project/db/roles.sh), to which revisions grant.
SERVICE_ROLE = "users_service"
CREATE_SERVICE_ROLE = text(f"""DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{SERVICE_ROLE}') THEN
    CREATE ROLE {SERVICE_ROLE} NOLOGIN;
  END IF;
EXCEPTION WHEN duplicate_object THEN NULL;  -- another test run made it meanwhile
END $$""")


def history():
    """Return the revisions' scripts from the first to the head, and the heads' ids."""
    scripts = ScriptDirectory(MIGRATIONS_DIR)
    return list(reversed(list(scripts.walk_revisions("base", "heads")))), scripts.get_heads()


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

    def grants(self, connection):
        """Return what the service role was granted (nothing where there are no roles)."""
        return []

    def changes_schema(self, script):
        """Say whether `script`'s upgrade changes what `schema` shows on this database."""
        return True

    def schema(self):
        """Return every table's columns, unique constraints and indexes, and the grants."""
        def read(connection):
            inspector = inspect(connection)
            return self.grants(connection), {
                table: (
                    [(c["name"], str(c["type"]), c["nullable"])
                     for c in inspector.get_columns(table)],
                    sorted((u["name"], tuple(u["column_names"]))
                           for u in inspector.get_unique_constraints(table)),
                    sorted((i["name"], tuple(i["column_names"]))
                           for i in inspector.get_indexes(table)),
                )
                for table in inspector.get_table_names() if table != "alembic_version"
            }
        return self.inspect(read)

    def unique_constraints(self):
        return self.inspect(lambda c: {
            u["name"]: u["column_names"] for u in inspect(c).get_unique_constraints("users")
        })

    def version(self):
        return self.inspect(
            lambda c: c.execute(text("select version_num from alembic_version")).scalar()
        )

    def test_history_has_one_head(self):
        """Ensure the scripts form one line of history, ending at one head."""
        revisions, heads = history()
        self.assertEqual(len(heads), 1, heads)
        self.assertEqual(revisions[-1].revision, heads[0])

    def test_each_revision_up_down_and_up_again(self):
        """Ensure each revision's downgrade restores the schema its upgrade started from."""
        for script in history()[0]:
            with self.subTest(revision=script.revision):
                before = self.schema()
                self.assert_ok("db", "upgrade", script.revision)
                after = self.schema()
                if self.changes_schema(script):
                    self.assertNotEqual(after, before, "the upgrade changed nothing")
                else:
                    self.assertEqual(after, before)
                self.assert_ok("db", "downgrade", script.down_revision or "base")
                self.assertEqual(self.schema(), before)
                self.assert_ok("db", "upgrade", script.revision)
                self.assertEqual(self.schema(), after)
                self.assertEqual(self.version(), script.revision)

    def test_upgrade_downgrade_upgrade_check(self):
        """Ensure upgrade from empty, downgrade base, upgrade again and check all pass."""
        _, heads = history()
        self.assert_ok("db", "upgrade")
        self.assertEqual(self.version(), heads[0])
        self.assert_ok("db", "check")
        self.assert_ok("db", "downgrade", "base")
        self.assertEqual(self.inspect(lambda c: inspect(c).get_table_names()),
                         ["alembic_version"])
        self.assert_ok("db", "upgrade")
        result = self.assert_ok("db", "check")
        self.assertIn("No new upgrade operations detected.", result.stdout + result.stderr)

    def test_constraints_are_named_as_the_course_shows(self):
        """Ensure the unique constraints are users_email_key and users_username_key."""
        self.assert_ok("db", "upgrade")
        constraints = self.unique_constraints()
        for name, columns in COURSE_CONSTRAINTS.items():
            self.assertEqual(constraints.get(name), columns, constraints)
        pk = self.inspect(lambda c: inspect(c).get_pk_constraint("users"))
        self.assertEqual(pk["constrained_columns"], ["id"])

    def test_upgrade_refuses_duplicates_and_changes_nothing(self):
        """Ensure existing duplicates stop the upgrade with a message naming them."""
        first = history()[0][0].revision
        self.assert_ok("db", "upgrade", first)
        insert = text("insert into users (username, email) values (:u, :e)")

        def add_rows(connection):
            for username, email in DUPLICATE_ROWS:
                connection.execute(insert, {"u": username, "e": email})
            connection.commit()

        self.inspect(add_rows)
        before = self.schema()
        result = self.manage("db", "upgrade")
        self.assertEqual(result.returncode, 1)
        output = result.stdout + result.stderr
        self.assertIn("username 'michael' (2 rows)", output)
        self.assertIn("email 'b@mherman.org' (2 rows)", output)
        self.assertNotIn("Traceback", output)
        self.assertEqual(self.version(), first)
        self.assertEqual(self.schema(), before)
        count = self.inspect(lambda c: c.execute(text("select count(*) from users")).scalar())
        self.assertEqual(count, len(DUPLICATE_ROWS))


class TestPostgresMigrations(MigrationChecks, unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        # The production role the revisions grant to; cluster-wide, so made only if missing.
        engine = create_engine(test_database_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(CREATE_SERVICE_ROLE)
        finally:
            engine.dispose()

    def setUp(self):
        self.url = self.enterContext(scratch_database("migrations"))

    def grants(self, connection):
        return connection.execute(text(
            "select table_name, privilege_type from information_schema.role_table_grants "
            "where grantee = :role union all "
            "select object_name, privilege_type from information_schema.usage_privileges "
            "where grantee = :role order by 1, 2"), {"role": SERVICE_ROLE}).all()

    def test_the_service_role_may_read_and_add_users_only(self):
        """Ensure the head grants the service role SELECT and INSERT on users and its id
        sequence's USAGE, and nothing on alembic_version."""
        self.assert_ok("db", "upgrade")
        self.assertEqual(self.inspect(self.grants), [
            ("users", "INSERT"), ("users", "SELECT"), ("users_id_seq", "USAGE")])

    def test_psql_shows_unique_constraints(self):
        """Ensure PostgreSQL records them as UNIQUE constraints, as `\\d users` prints."""
        self.assert_ok("db", "upgrade")
        rows = self.inspect(lambda c: c.execute(text(
            "select conname, contype from pg_constraint "
            "where conrelid = 'users'::regclass"
        )).all())
        self.assertLessEqual(
            {("users_email_key", "u"), ("users_pkey", "p"), ("users_username_key", "u")},
            {tuple(row) for row in rows},
        )


class TestSqliteMigrations(MigrationChecks, unittest.TestCase):

    def setUp(self):
        folder = self.enterContext(tempfile.TemporaryDirectory())
        self.url = "sqlite:///" + os.path.join(folder, "users.db")

    def changes_schema(self, script):
        # SQLite has no roles: a revision of grants only does nothing there.
        return not getattr(script.module, "POSTGRESQL_ONLY", False)


if __name__ == "__main__":
    unittest.main()
