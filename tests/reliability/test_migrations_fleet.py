"""Migrations for a fleet: simultaneous upgrades all succeed and apply each revision once;
the unique revision runs on a served table of 1,000,000 users without stalling a request.
"""

import contextlib
import os
import re
import subprocess
import threading
import time

import pytest

from conftest import (APP_PYTHON, USERS_DIR, Gunicorn, artifact_path, migrate, migration_history,
                      seed_users)
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
# How long after every racer is ready they are all released (seconds).
RELEASE_AFTER = 0.5
# One racer: import the app first (the slow part), say so, wait for the release file, sleep
# until the instant it names, then run the real command (`manage.py db upgrade` is
# `cli.main` on these arguments).
RACER = """
import os, sys, time
from manage import cli
ready, release = sys.argv[1:3]
open(ready, "w").close()
deadline = time.monotonic() + 90
while not os.path.exists(release + ".at"):
    if time.monotonic() > deadline:
        sys.exit("never released")
    time.sleep(0.005)
with open(release + ".at") as at:
    time.sleep(max(0.0, float(at.read()) - time.time()))
print(f"released {time.time()}", flush=True)
try:
    cli.main(["db", "upgrade"], prog_name="manage.py")
finally:
    print(f"finished {time.time()}", flush=True)
"""


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


class Racer:
    """One `db upgrade` in a process of its own, held after importing the app."""

    def __init__(self, number, database_url, folder):
        self.ready = os.path.join(folder, f"ready-{number}")
        self.out_path = os.path.join(folder, f"racer-{number}.out")
        self.err_path = os.path.join(folder, f"racer-{number}.err")
        self.release = os.path.join(folder, "release")
        self.env = service_env(database_url)
        self.process = None

    def start(self):
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.process = subprocess.Popen(
                [APP_PYTHON, "-c", RACER, self.ready, self.release], cwd=USERS_DIR,
                env=self.env, stdout=out, stderr=err)

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

    def moment(self, event):
        found = re.search(rf"^{event} ([0-9.]+)$", self.output()[0], re.MULTILINE)
        return float(found.group(1)) if found else None


def release_at(path, instant):
    """Name the release instant in `path`.at, written whole before any racer can read it."""
    with open(path, "w") as release:
        release.write(repr(instant))
    os.rename(path, path + ".at")


def race(database_url, folder):
    """Start RACERS upgrades, release them together once all are ready; return them."""
    racers = [Racer(number, database_url, folder) for number in range(RACERS)]
    try:
        for racer in racers:
            racer.start()
        wait_until(lambda: all(os.path.exists(racer.ready) for racer in racers),
                   "every racer ready", 90, interval=0.05)
        release_at(racers[0].release, time.time() + RELEASE_AFTER)
        deadline = time.monotonic() + RACE_TIMEOUT
        codes = [racer.wait(deadline) for racer in racers]
    finally:
        for racer in racers:
            racer.kill()
    return racers, codes


@pytest.mark.parametrize("start", ["empty", "first_revision"])
def test_simultaneous_upgrades_all_succeed_once(postgres, metrics, tmp_path, start):
    """Ensure 8 `db upgrade`s released at one instant all exit 0 and leave one history."""
    history = migration_history()
    database = f"reliability_migrations_race_{start}"
    url = postgres.create_database(database)
    before = None
    if start == "first_revision":
        migrate(url, history[0])
        seed_users(postgres, database, RACE_ROWS)
        before = fingerprint(postgres, database)

    racers, codes = race(url, str(tmp_path))

    outputs = [racer.output() for racer in racers]
    assert codes == [0] * RACERS, [f"exit {code}: {err[-2000:]}"
                                   for code, (_, err) in zip(codes, outputs) if code != 0]
    assert_course_schema(postgres, database, history[-1])
    if before:
        assert fingerprint(postgres, database) == before
    else:
        assert fingerprint(postgres, database)[0] == 0
    # The one runner that held the lock applied every revision; the others found none to do.
    pending = len(history) - (1 if before else 0)
    applied = [err.count("Running upgrade") for _, err in outputs]
    assert sorted(applied) == [0] * (RACERS - 1) + [pending]
    released = [racer.moment("released") for racer in racers]
    finished = [racer.moment("finished") for racer in racers]
    assert max(released) < min(finished), "the racers did not overlap"
    metrics[f"migrations_race_{start}"] = {
        "racers": RACERS, "exit_0": codes.count(0), "rows": RACE_ROWS if before else 0,
        "release_spread_ms": round((max(released) - min(released)) * 1000, 1),
        "all_done_after_s": round(max(finished) - min(released), 2),
        "racers_applying_revisions": sum(1 for count in applied if count),
        "alembic_version_rows": 1,
    }


class LongestStatements:
    """Samples pg_stat_activity for the migration's long statements while the block runs."""

    SAMPLE = """
        select pid, query_start, left(query, 80),
               extract(epoch from clock_timestamp() - query_start)
        from pg_stat_activity
        where datname = current_database() and pid <> pg_backend_pid() and state = 'active'
          and (query ilike 'CREATE UNIQUE INDEX%' or query ilike '%GROUP BY%')"""

    def __init__(self, postgres, database):
        self.postgres = postgres
        self.database = database
        self.seen = {}
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
                while not self.stop.wait(0.05):
                    cursor.execute(self.SAMPLE)
                    for pid, started, text, seconds in cursor.fetchall():
                        self.seen[(pid, started, text)] = float(seconds)

    def longest(self):
        """Return the longest statement seen (seconds) of each kind, and of all."""
        kinds = {"index_build": 0.0, "duplicates_check": 0.0}
        for (_, _, text), seconds in self.seen.items():
            kind = "index_build" if text.upper().startswith("CREATE") else "duplicates_check"
            kinds[kind] = max(kinds[kind], round(seconds, 2))
        return {**kinds, "any": max(kinds.values())}


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
        with LongestStatements(postgres, database) as statements:
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
    # Statements outlived the requests' timeout, which the upgrade was given: not inherited.
    assert statements.longest()["any"] > REQUEST_STATEMENT_TIMEOUT / 1000, statements.seen
    metrics["migrations_live_upgrade"] = summary


def test_control_plain_unique_constraint_stalls_requests(million, postgres, metrics):
    """Ensure the live test's bound catches what the old revision did: a plain UNIQUE."""
    server, database, _, _ = million
    with SteadyLoad(server.base_url, LIVE_ROWS, prefix="control") as load:
        load.wait_for_answers(20, 30)
        warmed = time.monotonic()
        time.sleep(1)
        with contextlib.closing(postgres.connect(database)) as connection:
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
    }
    # Every request that met the ALTER waited for its lock: the longest for nearly all of it.
    assert during and longest >= LOCKED_OUT_SHARE * (ended - started), summary
    metrics["migrations_control_plain_unique"] = summary
