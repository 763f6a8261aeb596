"""Migrations for a fleet: simultaneous upgrades all succeed and apply each revision once;
a runner killed mid-build is healed by the next at once; the unique revision runs on a
served table of 1,000,000 users without stalling a request or a backend on a lock.
"""

import contextlib
import os
import subprocess
import threading
import time

import pytest

from conftest import (APP_PYTHON, USERS_DIR, Gunicorn, artifact_path, migrate, migration_history,
                      seed_users, upgrade_lock_constants)
from harness.load import SteadyLoad, latency_summary, write_report
from harness.servers import service_env
from harness.waiting import wait_until

RACERS = 8
RACE_ROWS = 20_000
# Every racer must have exited by then: a deadlock fails the test instead of hanging it.
RACE_TIMEOUT = 120
LIVE_ROWS = 1_000_000
# While the unique revision runs, no request may take this long (seconds).
STALL = 1.0
BASELINE_SECONDS = 4
# A request-path statement timeout (DATABASE_STATEMENT_TIMEOUT, ms) given to the upgrade,
# which must not apply to it: shorter than every statement that reads the whole table (on
# 1,000,000 rows here: a duplicates check 0.55 s, an index build 0.67 s on a quiet machine,
# several seconds on a loaded one; 1000 ms would be outlasted only on a loaded machine).
REQUEST_STATEMENT_TIMEOUT = 100
# The control's requests must wait for (nearly) the whole of its ALTER's lock.
LOCKED_OUT_SHARE = 0.9
# `\d users` as the lesson shows it: (index, valid, constraint kind, definition).
COURSE_INDEXES = [
    ("users_email_key", True, "u",
     "CREATE UNIQUE INDEX users_email_key ON public.users USING btree (email)"),
    ("users_pkey", True, "p", "CREATE UNIQUE INDEX users_pkey ON public.users USING btree (id)"),
    ("users_username_key", True, "u",
     "CREATE UNIQUE INDEX users_username_key ON public.users USING btree (username)"),
]
# A racer logs this once when it finds the lock taken (project/upgrade_lock.py).
WAITING = "Another migration is running; waiting up to"
# Enough rows that each index build takes seconds, so the kill lands in the middle of one.
KILLED_ROWS = 2_000_000
# Any wait longer than this, or a step that does not happen, fails the test (seconds).
STEP_TIMEOUT = 120
# A request queued behind the ALTER waits at most its lock_timeout (MIGRATION_LOCK_TIMEOUT,
# 500 ms) and the moment it holds the table; the control's ALTER holds it for over a second.
LOCK_WAIT_BOUND = 0.75
ENDED = "Ended 1 session(s) that a migration which died left running (pid {})."


def query(postgres, database, sql, params=()):
    with contextlib.closing(postgres.connect(database)) as connection:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = [tuple(row) for row in cursor.fetchall()] if cursor.description else None
        connection.commit()
    return rows


def versions(postgres, database):
    return query(postgres, database, "select version_num from alembic_version")


def users_indexes(postgres, database):
    """Return every index of users: name, valid, its constraint's kind, definition."""
    return query(postgres, database, """
        select c.relname, i.indisvalid, coalesce(con.contype::text, '-'),
               pg_get_indexdef(i.indexrelid)
        from pg_index i join pg_class c on c.oid = i.indexrelid
        left join pg_constraint con on con.conindid = i.indexrelid
        where i.indrelid = 'users'::regclass order by c.relname""")


def users_constraints(postgres, database):
    return query(postgres, database, "select conname, contype::text from pg_constraint "
                 "where conrelid = 'users'::regclass order by conname")


def fingerprint(postgres, database):
    """Return the users' row count and a digest of every row."""
    return query(postgres, database, """
        select count(*), md5(coalesce(string_agg(
            id || ':' || username || ':' || email || ':' || active, ',' order by id), ''))
        from users""")[0]


def assert_course_schema(postgres, database, head):
    assert versions(postgres, database) == [(head,)]
    assert users_indexes(postgres, database) == COURSE_INDEXES
    assert users_constraints(postgres, database) == [
        ("users_email_key", "u"), ("users_pkey", "p"), ("users_username_key", "u")]


class Upgrade:
    """`manage.py db upgrade` in a process of its own, its output in files."""

    def __init__(self, database_url, folder, name):
        self.out_path = os.path.join(folder, f"{name}.out")
        self.err_path = os.path.join(folder, f"{name}.err")
        self.env = service_env(database_url)
        self.process = None

    def start(self):
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.process = subprocess.Popen([APP_PYTHON, "manage.py", "db", "upgrade"],
                                            cwd=USERS_DIR, env=self.env, stdout=out, stderr=err)
        return self

    def wait(self, deadline):
        try:
            return self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self):
        with open(self.out_path) as out, open(self.err_path) as err:
            return out.read(), err.read()

    def waiting(self):
        """Say whether it has logged that it waits for the lock; fail if it has exited."""
        assert self.process.poll() is None, f"exited {self.process.returncode} before waiting"
        return WAITING in self.output()[1]


def race(postgres, database, url, folder):
    """Hold the lock while RACERS upgrades start; release it once all wait for it.

    Return the racers, their exit codes and how long after the release the last exited.
    """
    lock_key, _ = upgrade_lock_constants()
    racers = [Upgrade(url, folder, f"racer-{number}") for number in range(RACERS)]
    with contextlib.closing(postgres.connect(database)) as holder:
        holder.autocommit = True
        try:
            holder.cursor().execute("select pg_advisory_lock(%s)", (lock_key,))
            for racer in racers:
                racer.start()
            wait_until(lambda: all(racer.waiting() for racer in racers),
                       "every racer waiting for the lock", RACE_TIMEOUT, interval=0.05)
            holder.cursor().execute("select pg_advisory_unlock(%s)", (lock_key,))
            released = time.monotonic()
            deadline = released + RACE_TIMEOUT
            codes = [racer.wait(deadline) for racer in racers]
            done_after = time.monotonic() - released
        finally:
            for racer in racers:
                racer.kill()
    return racers, codes, done_after


@pytest.mark.parametrize("start", ["empty", "first_revision"])
def test_simultaneous_upgrades_all_succeed_once(postgres, metrics, tmp_path, start):
    """Ensure 8 `db upgrade`s all waiting for one lock all exit 0 and leave one history."""
    history = migration_history()
    database = f"reliability_migrations_race_{start}"
    url = postgres.create_database(database)
    before = None
    if start == "first_revision":
        migrate(url, history[0])
        seed_users(postgres, database, RACE_ROWS)
        before = fingerprint(postgres, database)

    racers, codes, done_after = race(postgres, database, url, str(tmp_path))

    outputs = [racer.output() for racer in racers]
    assert codes == [0] * RACERS, [f"exit {code}: {err[-2000:]}"
                                   for code, (_, err) in zip(codes, outputs) if code != 0]
    assert_course_schema(postgres, database, history[-1])
    if before:
        assert fingerprint(postgres, database) == before
    else:
        assert fingerprint(postgres, database)[0] == 0
    # Every racer waited; the one the lock went to first applied every revision, the others
    # found none to do.
    assert [err.count(WAITING) for _, err in outputs] == [1] * RACERS
    pending = len(history) - (1 if before else 0)
    applied = [err.count("Running upgrade") for _, err in outputs]
    assert sorted(applied) == [0] * (RACERS - 1) + [pending]
    assert not any("Traceback" in out + err for out, err in outputs)
    metrics[f"migrations_race_{start}"] = {
        "racers": RACERS, "exit_0": codes.count(0), "rows": RACE_ROWS if before else 0,
        "waited_for_the_lock": sum(WAITING in err for _, err in outputs),
        "all_done_after_release_s": round(done_after, 2),
        "racers_applying_revisions": sum(1 for count in applied if count),
        "alembic_version_rows": len(versions(postgres, database)),
    }


class Sampler:
    """Runs `record(cursor)` every `interval` seconds on a connection of its own while the
    block runs."""

    interval = 0.05

    def __init__(self, postgres, database):
        self.postgres = postgres
        self.database = database
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join(timeout=30)

    def sample(self):
        with contextlib.closing(self.postgres.connect(self.database)) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                while not self.stop.wait(self.interval):
                    self.record(cursor)


class LongestStatements(Sampler):
    """Samples pg_stat_activity for the migration's long statements."""

    SAMPLE = """
        select pid, query_start, left(query, 80),
               extract(epoch from clock_timestamp() - query_start)
        from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and state = 'active'
          and (query ilike 'CREATE UNIQUE INDEX%' or query ilike '%GROUP BY%')"""

    def __init__(self, postgres, database):
        super().__init__(postgres, database)
        self.seen = {}

    def record(self, cursor):
        cursor.execute(self.SAMPLE)
        for pid, started, text, seconds in cursor.fetchall():
            self.seen[(pid, started, text)] = float(seconds)

    def longest(self, besides=()):
        """Return the longest statement seen (seconds) of each kind, and of all.

        `besides`: backends whose statements do not count.
        """
        kinds = {"index_build": 0.0, "duplicates_check": 0.0}
        for (pid, _, text), seconds in self.seen.items():
            if pid in besides:
                continue
            kind = "index_build" if text.upper().startswith("CREATE") else "duplicates_check"
            kinds[kind] = max(kinds[kind], round(seconds, 2))
        return {**kinds, "any": max(kinds.values())}


class LockWaits(Sampler):
    """Samples pg_locks for the locks the service's backends wait for, and how long each
    waits (from PostgreSQL's own `waitstart`): every backend on the database but the
    migrator's sessions, which carry its application_name."""

    interval = 0.02
    SAMPLE = """
        select l.pid, l.waitstart, l.locktype, coalesce(l.relation::regclass::text, '-'),
               extract(epoch from clock_timestamp() - l.waitstart)
        from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where not l.granted and l.waitstart is not null and a.datname = current_database()
          and a.pid <> pg_backend_pid() and a.application_name <> %s"""

    def __init__(self, postgres, database):
        super().__init__(postgres, database)
        _, self.migrator = upgrade_lock_constants()
        self.waits = {}

    def record(self, cursor):
        cursor.execute(self.SAMPLE, (self.migrator,))
        for pid, started, locktype, relation, seconds in cursor.fetchall():
            key = (pid, started, locktype, relation)
            self.waits[key] = max(self.waits.get(key, 0.0), float(seconds))

    def summary(self):
        """Return the waits seen: how many, on what, the longest and each (seconds)."""
        waited = sorted(self.waits.values(), reverse=True)
        return {"backend_lock_waits": len(waited),
                "on": sorted({f"{locktype} {relation}"
                              for (_, _, locktype, relation) in self.waits}),
                "longest_lock_wait_s": round(waited[0], 3) if waited else 0.0,
                "lock_waits_s": [round(seconds, 3) for seconds in waited]}


BUILD = """
    select p.pid, p.phase, p.blocks_done, p.blocks_total, a.application_name
    from pg_stat_progress_create_index p join pg_stat_activity a on a.pid = p.pid
    where p.datname = current_database() and p.command = 'CREATE INDEX CONCURRENTLY'
      and p.index_relid = to_regclass('users_username_key')"""


def backend(postgres, database, pid):
    """Return a backend's state, query and index build phase, or None once it has gone."""
    rows = query(postgres, database, """
        select a.state, a.query, coalesce(p.phase, '-')
        from pg_stat_activity a left join pg_stat_progress_create_index p on p.pid = a.pid
        where a.pid = %s""", (pid,))
    return rows[0] if rows else None


def test_migrator_killed_mid_build_is_healed_by_the_next_at_once(postgres, metrics, tmp_path):
    """Ensure `db upgrade` right after one SIGKILLed mid-build, still building, succeeds."""
    history = migration_history()
    database = "reliability_migrations_killed"
    url = postgres.create_database(database)
    migrate(url, history[0])
    seed_users(postgres, database, KILLED_ROWS)
    with contextlib.closing(postgres.connect(database)) as connection:
        connection.autocommit = True
        connection.cursor().execute("vacuum analyze users")
    before = fingerprint(postgres, database)
    _, migrator = upgrade_lock_constants()
    first = Upgrade(url, str(tmp_path), "killed")
    second = Upgrade(url, str(tmp_path), "next")
    with contextlib.closing(postgres.connect(database)) as old:
        # A snapshot older than every build: a concurrent build waits for it before it ends,
        # so the killed runner's build is still on the server when the next run starts,
        # however fast the machine. It holds no lock: nothing else waits for it.
        old.set_session(isolation_level="REPEATABLE READ")
        old.cursor().execute("select 1")
        try:
            first.start()
            [(orphan, phase, done, total, name)] = wait_until(
                lambda: [row for row in query(postgres, database, BUILD)
                         if row[1].startswith("building index") and row[2] > 0],
                "the username index being built", STEP_TIMEOUT, interval=0.01)
            first.kill()
            # Its lock session saw the closed socket; its build did not.
            at_start = backend(postgres, database, orphan)
            with LongestStatements(postgres, database) as statements:
                second.start()
                # The next run ends the orphan; only then may the builds finish.
                wait_until(lambda: backend(postgres, database, orphan) is None
                           or second.process.poll() is not None,
                           "the orphaned build ended", STEP_TIMEOUT, interval=0.05)
                orphan_gone = backend(postgres, database, orphan) is None
                old.rollback()
                code = second.wait(time.monotonic() + 300)
        finally:
            first.kill()
            second.kill()
    out, err = second.output()
    assert name == migrator
    assert at_start[:2] == ("active", "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "
                                      "users_username_key ON users (username)"), at_start
    assert orphan_gone, err[-3000:]
    assert code == 0, err[-3000:]
    assert "Traceback" not in out + err
    assert [line.split("] ", 1)[1] for line in err.splitlines() if "Ended" in line] == [
        ENDED.format(orphan)]
    # Every revision after the first, once each: the killed run had committed none.
    ran = [line.split("Running upgrade ", 1)[1].split(",", 1)[0] for line in err.splitlines()
           if "Running upgrade " in line]
    assert ran == [f"{old} -> {new}" for old, new in zip(history, history[1:])], err
    assert_course_schema(postgres, database, history[-1])
    assert fingerprint(postgres, database) == before
    metrics["migrations_killed_mid_build"] = {
        "rows": KILLED_ROWS, "killed_in": phase, "blocks_done_of_total": [done, total],
        "orphan_at_next_start": {"state": at_start[0], "phase": at_start[2]},
        "next_exit": code, "orphans_ended_by_next": 1,
        "next_index_build_s": statements.longest(besides={orphan})["index_build"],
    }


@pytest.fixture(scope="module")
def million(postgres):
    """A database at the first revision holding LIVE_ROWS users, served by gunicorn."""
    history = migration_history()
    database = "reliability_migrations_live"
    url = postgres.create_database(database)
    migrate(url, history[0])
    seed_users(postgres, database, LIVE_ROWS)
    with contextlib.closing(postgres.connect(database)) as connection:
        connection.autocommit = True
        connection.cursor().execute("vacuum analyze users")
    server = Gunicorn(url, database, workers=2)
    try:
        yield server.start(), database, url, history
    finally:
        server.stop()


def posted(postgres, database, prefix):
    return set(query(postgres, database, "select username, email from users "
                     "where username like %s", (f"{prefix}-%",)))


def split(answers, since, until):
    """Return the answers before `since`, and those whose request overlapped [since, until]."""
    return ([a for a in answers if a.ended <= since],
            [a for a in answers if a.overlaps(since, until)])


def test_unique_revision_keeps_a_live_table_serving(million, postgres, metrics):
    """Ensure upgrading 1,000,000 served users fails no request and stalls none for 1 s."""
    server, database, url, history = million
    with SteadyLoad(server.base_url, LIVE_ROWS, prefix="live") as load:
        load.wait_for_answers(20, 30)
        warmed = time.monotonic()
        time.sleep(BASELINE_SECONDS)
        with LongestStatements(postgres, database) as statements, \
                LockWaits(postgres, database) as locks:
            started = time.monotonic()
            migrate(url, timeout=300,
                    DATABASE_STATEMENT_TIMEOUT=str(REQUEST_STATEMENT_TIMEOUT))
            ended = time.monotonic()
        time.sleep(1)
    everything = load.snapshot()
    answers = [a for a in everything if a.started >= warmed]
    baseline, during = split(answers, started, ended)
    summary = {
        "rows": LIVE_ROWS, "upgrade_s": round(ended - started, 2),
        "baseline": latency_summary(baseline), "during_upgrade": latency_summary(during),
        "baseline_1s_or_more": sum(a.elapsed >= STALL for a in baseline),
        "reads": sum(a.kind == "read" for a in answers),
        "writes": sum(a.kind == "write" for a in answers),
        "longest_statement_s": statements.longest(),
        **locks.summary(),
    }
    write_report(artifact_path("migrations-live-upgrade.json"), summary, answers)

    wrong = [a.as_dict() for a in everything if not a.correct]
    assert wrong == [], wrong[:10]
    assert len(during) >= 100, "the load hardly overlapped the upgrade"
    slow = [a.as_dict() for a in during if a.elapsed >= STALL]
    assert slow == [], (f"{len(slow)} requests took {STALL} s or more: {slow[:10]}; "
                        f"the same load without a migration: {summary['baseline']}")
    written = {a.sent for a in everything if a.kind == "write"}
    assert written and posted(postgres, database, "live") == written
    assert_course_schema(postgres, database, history[-1])
    # PostgreSQL's own account: no service backend waited long on a lock.
    assert summary["longest_lock_wait_s"] < LOCK_WAIT_BOUND, summary
    # Statements outlived the requests' timeout, which the upgrade was given: not inherited.
    assert statements.longest()["any"] > REQUEST_STATEMENT_TIMEOUT / 1000, statements.seen
    metrics["migrations_live_upgrade"] = summary


def test_control_plain_unique_constraint_stalls_requests(million, postgres, metrics):
    """Ensure the live test's bound catches what the old revision did: a plain UNIQUE."""
    server, database, _, _ = million
    _, migrator = upgrade_lock_constants()
    with SteadyLoad(server.base_url, LIVE_ROWS, prefix="control") as load:
        load.wait_for_answers(20, 30)
        warmed = time.monotonic()
        time.sleep(1)
        # Named as the migrator, whose own waits the sampler leaves out.
        with contextlib.closing(postgres.connect(database, application_name=migrator)) \
                as connection, LockWaits(postgres, database) as locks:
            with connection.cursor() as cursor:
                started = time.monotonic()
                cursor.execute("alter table users "
                               "add constraint control_username_key unique (username), "
                               "add constraint control_email_key unique (email)")
                connection.commit()
                ended = time.monotonic()
                cursor.execute("alter table users drop constraint control_username_key, "
                               "drop constraint control_email_key")
                connection.commit()
        time.sleep(1)
    answers = [a for a in load.snapshot() if a.started >= warmed]
    baseline, during = split(answers, started, ended)
    longest = max((a.elapsed for a in during), default=0.0)
    summary = {
        "alter_s": round(ended - started, 2), "baseline": latency_summary(baseline),
        "during_alter": latency_summary(during),
        "stalled_1s_or_more": sum(a.elapsed >= STALL for a in during),
        **locks.summary(),
    }
    # Every request that met the ALTER waited for its lock: the longest for nearly all of it.
    assert during and longest >= LOCKED_OUT_SHARE * (ended - started), summary
    # The sampler sees those waits, on the users table, longer than the live test allows.
    assert "relation users" in summary["on"], summary
    assert summary["longest_lock_wait_s"] >= LOCK_WAIT_BOUND, summary
    metrics["migrations_control_plain_unique"] = summary
