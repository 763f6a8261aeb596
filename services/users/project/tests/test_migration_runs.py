"""How migrations run on PostgreSQL: one runner at a time, their own timeouts, a live
table's indexes built concurrently, offline SQL, and one clear line when they cannot.
"""

import contextlib
import subprocess
import threading
import time
import unittest

import psycopg2
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from harness.waiting import wait_until
from project import MIGRATIONS_DIR
from project.tests.base import test_database_url
from project.tests.support import child_env, run_manage, scratch_database
from project.upgrade_lock import APPLICATION_NAME, LOCK_KEY


class MigrationRunCase(unittest.TestCase):

    def setUp(self):
        self.url = self.enterContext(scratch_database("migration_runs"))
        scripts = ScriptDirectory(MIGRATIONS_DIR)
        history = list(reversed(list(scripts.walk_revisions("base", "heads"))))
        self.first, self.head = history[0].revision, history[-1].revision

    def manage(self, *args, **environment):
        return run_manage(*args, env=child_env(DATABASE_URL=self.url, **environment))

    def assert_ok(self, *args, **environment):
        result = self.manage(*args, **environment)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return result

    def connect(self, url=None, **options):
        url = make_url(url or self.url)
        return contextlib.closing(psycopg2.connect(
            host=url.host, port=url.port, user=url.username, dbname=url.database, **options))

    def query(self, sql, params=()):
        with self.connect() as connection, connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall() if cursor.description else None
            connection.commit()
            return rows

    def wait_for_rows(self, sql, params=(), timeout=30):
        """Poll `sql` until it returns rows; return them."""
        deadline = time.monotonic() + timeout
        while not (rows := self.query(sql, params)):
            self.assertLess(time.monotonic(), deadline, f"no rows within {timeout} s: {sql}")
            time.sleep(0.05)
        return rows

    def sleeping_session(self, url):
        """Start `pg_sleep` in a migration-named session on `url`; return its pid, outcome."""
        outcome = {}

        def sleep():
            with self.connect(url, application_name=APPLICATION_NAME) as connection:
                connection.autocommit = True
                try:
                    connection.cursor().execute("select pg_sleep(120)")
                except psycopg2.Error as error:
                    outcome["error"] = type(error).__name__

        thread = threading.Thread(target=sleep)
        thread.start()
        [(pid,)] = self.wait_for_rows(
            "select pid from pg_stat_activity where datname = %s and state = 'active' "
            "and query = 'select pg_sleep(120)'", (make_url(url).database,))
        self.addCleanup(thread.join, 30)
        self.addCleanup(self.query, "select pg_cancel_backend(%s)", (pid,))
        return pid, outcome, thread

    def add_users(self, count):
        self.query("insert into users (username, email) select 'user' || n, "
                   "'user' || n || '@example.com' from generate_series(1, %s) n", (count,))

    def unique_indexes(self):
        return self.query(
            "select c.relname, i.indisvalid, exists (select 1 from pg_constraint "
            "where conindid = i.indexrelid) from pg_index i join pg_class c "
            "on c.oid = i.indexrelid where i.indrelid = 'users'::regclass "
            "and i.indisunique and not i.indisprimary order by c.relname")

    def assert_course_constraints(self):
        self.assertEqual(self.unique_indexes(), [("users_email_key", True, True),
                                                 ("users_username_key", True, True)])

    def error_lines(self, result):
        self.assertNotIn("Traceback", result.stdout + result.stderr)
        return [line for line in result.stderr.splitlines() if "Error:" in line]


class TestOneRunnerAtATime(MigrationRunCase):

    def test_upgrade_waits_for_the_lock_then_gives_up_clearly(self):
        """Ensure an upgrade waits MIGRATION_LOCK_WAIT for another runner, then stops."""
        with self.connect() as holder:
            holder.autocommit = True
            holder.cursor().execute("select pg_advisory_lock(%s)", (LOCK_KEY,))
            started = time.monotonic()
            result = self.manage("db", "upgrade", MIGRATION_LOCK_WAIT="2")
            waited = time.monotonic() - started
        self.assertEqual(result.returncode, 1)
        self.assertGreaterEqual(waited, 2)
        self.assertEqual(len(self.error_lines(result)), 1, result.stderr)
        self.assertIn("Another migration held the lock for more than 2 s", result.stderr)
        self.assertEqual(result.stderr.count("Another migration is running; waiting up to "
                                             "2 s for it."), 1, result.stderr)
        self.assertEqual(self.query("select count(*) from pg_tables where schemaname = "
                                    "'public'"), [(0,)])
        self.assert_ok("db", "upgrade")
        self.assertEqual(self.query("select version_num from alembic_version"),
                         [(self.head,)])

    def test_lock_released_after_upgrade(self):
        """Ensure a finished upgrade leaves the advisory lock free."""
        self.assert_ok("db", "upgrade")
        # On this database: another checkout's tests may hold the same key on another.
        self.assertEqual(self.query(
            "select count(*) from pg_locks where locktype = 'advisory' and database = "
            "(select oid from pg_database where datname = current_database())"), [(0,)])

    def test_upgrade_ends_the_session_a_dead_runner_left(self):
        """Ensure an upgrade ends the migration sessions on its database, and only those."""
        orphan, orphan_outcome, orphan_thread = self.sleeping_session(self.url)
        elsewhere, elsewhere_outcome, elsewhere_thread = self.sleeping_session(
            test_database_url())
        with self.connect(application_name="bystander") as bystander:
            idle = bystander.get_backend_pid()
            result = self.assert_ok("db", "upgrade")
            self.assertEqual(self.query("select count(*) from pg_stat_activity where pid = %s",
                                        (orphan,)), [(0,)])
            orphan_thread.join(30)
            self.assertEqual(orphan_outcome, {"error": "OperationalError"})
            self.assertEqual(self.error_lines(result), [])
            self.assertEqual([line for line in result.stderr.splitlines() if "Ended" in line], [
                "WARNI [project.upgrade_lock] Ended 1 session(s) that a migration which died "
                f"left running (pid {orphan})."])
            self.assertEqual(self.query("select pid, state from pg_stat_activity "
                                        "where pid in (%s, %s) order by pid", (elsewhere, idle)),
                             sorted([(elsewhere, "active"), (idle, "idle")]))
        self.query("select pg_cancel_backend(%s)", (elsewhere,))
        elsewhere_thread.join(30)
        self.assertEqual(elsewhere_outcome, {"error": "QueryCanceled"})
        self.assertEqual(self.query("select version_num from alembic_version"),
                         [(self.head,)])


class TestLiveIndexBuild(MigrationRunCase):

    def test_migration_session_carries_its_application_name(self):
        """Ensure the session building an index is named, so the next runner can find it."""
        self.assert_ok("db", "upgrade", self.first)
        self.add_users(50)
        with self.connect() as writer:
            writer.cursor().execute("lock table users in row exclusive mode")
            upgrade = []
            runner = threading.Thread(target=lambda: upgrade.append(self.manage("db", "upgrade")))
            runner.start()
            # The build waits for the open writer: its session is on show until rollback.
            waiting = self.wait_for_rows(
                "select application_name from pg_stat_activity where wait_event_type = 'Lock' "
                "and query like 'CREATE UNIQUE INDEX CONCURRENTLY%%'")
            writer.rollback()
        runner.join(120)
        self.assertEqual(waiting, [(APPLICATION_NAME,)])
        self.assertEqual(upgrade[0].returncode, 0, upgrade[0].stderr)
        self.assert_course_constraints()

    def test_offline_sql_for_every_revision(self):
        """Ensure `db upgrade --sql` works whole and revision by revision, touching nothing."""
        whole = self.assert_ok("db", "upgrade", "--sql")
        self.assertIn("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS users_username_key",
                      whole.stdout)
        self.assertIn("ADD CONSTRAINT users_username_key UNIQUE USING INDEX", whole.stdout)
        self.assertIn("SET lock_timeout = 500;", whole.stdout)
        step = self.assert_ok("db", "upgrade", "--sql", f"{self.first}:{self.head}")
        self.assertNotIn("CREATE TABLE users", step.stdout)
        self.assertIn("USING INDEX users_email_key", step.stdout)
        self.assertEqual(self.query("select count(*) from pg_tables where schemaname = "
                                    "'public'"), [(0,)])

    def test_offline_sql_runs_again_after_a_failed_try(self):
        """Ensure a DBA's offline SQL that failed on duplicates succeeds once they are gone."""
        def apply_offline(*revisions):
            sql = self.assert_ok("db", "upgrade", "--sql", *revisions).stdout
            return subprocess.run(["psql", self.url, "-q", "-X", "-v", "ON_ERROR_STOP=1"],
                                  input=sql, capture_output=True, text=True, timeout=60)

        self.assertEqual(apply_offline(self.first).returncode, 0)
        self.add_users(20)
        self.query("insert into users (username, email) values ('user1', 'x@example.com')")
        failed = apply_offline(f"{self.first}:{self.head}")
        self.assertNotEqual(failed.returncode, 0)
        self.assertIn("is duplicated", failed.stderr)
        self.query("delete from users where email = 'x@example.com'")
        second = apply_offline(f"{self.first}:{self.head}")
        self.assertEqual(second.returncode, 0, second.stderr)
        self.assert_course_constraints()

    def test_invalid_index_is_dropped_and_built_again(self):
        """Ensure an index an interrupted concurrent build left INVALID is built again."""
        self.assert_ok("db", "upgrade", self.first)
        self.add_users(50)
        self.query("insert into users (username, email) values ('user1', 'x@example.com')")
        with self.connect() as connection, contextlib.suppress(psycopg2.IntegrityError):
            connection.autocommit = True
            connection.cursor().execute(
                "create unique index concurrently users_username_key on users (username)")
        self.assertEqual(self.unique_indexes(), [("users_username_key", False, False)])
        self.query("delete from users where email = 'x@example.com'")
        self.assert_ok("db", "upgrade")
        self.assert_course_constraints()

    def test_constraints_wait_for_a_table_held_elsewhere(self):
        """Ensure the ALTER TABLE retries under its short lock_timeout until the table is free."""
        self.assert_ok("db", "upgrade", self.first)
        self.add_users(50)
        holding = threading.Event()

        def hold_table():
            with self.connect() as connection, connection.cursor() as cursor:
                cursor.execute("lock table users in access share mode")
                holding.set()
                time.sleep(2)
                connection.rollback()

        holder = threading.Thread(target=hold_table)
        holder.start()
        self.assertTrue(holding.wait(10))
        started = time.monotonic()
        result = self.manage("db", "upgrade", MIGRATION_LOCK_TIMEOUT="100")
        elapsed = time.monotonic() - started
        holder.join()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertGreater(elapsed, 1)
        self.assert_course_constraints()

    def test_index_build_gives_up_clearly_on_old_transactions_and_heals(self):
        """Ensure an index build kept waiting too long stops in one line; the next heals."""
        self.assert_ok("db", "upgrade", self.first)
        self.add_users(50)
        sleeping = threading.Thread(target=self.query, args=("select pg_sleep(3)",))
        sleeping.start()
        # The old transaction must be running before the build starts waiting for it.
        wait_until(lambda: self.query(
            "select 1 from pg_stat_activity where state = 'active' "
            "and query = 'select pg_sleep(3)' and datname = current_database()"),
            "the old transaction running", 10, interval=0.02)
        result = self.manage("db", "upgrade", MIGRATION_INDEX_LOCK_TIMEOUT="200")
        sleeping.join()
        self.assertEqual(result.returncode, 1)
        errors = self.error_lines(result)
        self.assertEqual(len(errors), 1, result.stderr)
        self.assertIn("Could not build the unique index on users.username", errors[0])
        self.assertEqual(self.unique_indexes(), [("users_username_key", False, False)])
        self.assert_ok("db", "upgrade")
        self.assert_course_constraints()


class TestOwnTimeouts(MigrationRunCase):

    def test_request_statement_timeout_does_not_cut_migrations(self):
        """Ensure DATABASE_STATEMENT_TIMEOUT, the requests' limit, does not apply to migrations."""
        self.assert_ok("db", "upgrade", self.first)
        self.add_users(50000)
        self.assert_ok("db", "upgrade", DATABASE_STATEMENT_TIMEOUT="1")
        self.assert_course_constraints()

    def test_migration_statement_timeout_applies(self):
        """Ensure MIGRATION_STATEMENT_TIMEOUT does bound a migration's statements."""
        self.assert_ok("db", "upgrade", self.first)
        self.add_users(50000)
        result = self.manage("db", "upgrade", MIGRATION_STATEMENT_TIMEOUT="1")
        self.assertEqual(result.returncode, 1)
        self.assertIn("statement timeout", result.stdout + result.stderr)

    def test_bad_setting_is_one_line(self):
        """Ensure a migration setting that is not a number stops with one line."""
        result = self.manage("db", "upgrade", MIGRATION_LOCK_TIMEOUT="soon")
        self.assertEqual(result.returncode, 1)
        self.assertEqual(self.error_lines(result), [
            "ERROR [flask_migrate] Error: MIGRATION_LOCK_TIMEOUT must be a whole number, "
            "not 'soon'."])


class TestMissingDatabase(unittest.TestCase):

    def test_missing_database_says_how_to_create_it(self):
        """Ensure `db upgrade` on a database that does not exist says so in one line."""
        with scratch_database("missing") as url:
            pass
        result = run_manage("db", "upgrade", env=child_env(DATABASE_URL=url))
        name = make_url(url).database
        self.assertEqual(result.returncode, 1)
        self.assertNotIn("Traceback", result.stderr)
        errors = [line for line in result.stderr.splitlines() if "Error:" in line]
        self.assertEqual(len(errors), 1, result.stderr)
        self.assertIn(f'has no database "{name}"', errors[0])
        self.assertIn(f"createdb -h 127.0.0.1 -p 5432 -U postgres {name}", errors[0])


if __name__ == "__main__":
    unittest.main()
