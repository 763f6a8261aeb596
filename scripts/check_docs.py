"""Check the docs as a reader uses them: links that lead somewhere, commands that work.

1. Every relative link in README.md and docs/*.md names a file that exists, and a
   heading in it if the link has an anchor.
2. Every command in README's shell blocks is run here, on scratch PostgreSQL databases,
   or is one that another CI step runs (that step is named, and must still say so).
   A command this script knows neither way fails the check: a new command in README
   is run from the day it is written.

    .venv/bin/python scripts/check_docs.py [--links-only]
"""

import argparse
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
USERS_DIR = REPO / "services" / "users"
VENV_BIN = REPO / ".venv" / "bin"
sys.path.insert(0, str(USERS_DIR))

from harness.http import request  # noqa: E402
from harness.ports import free_port  # noqa: E402
from harness.postgres import drop_database, recreate_database  # noqa: E402
from harness.processes import Processes  # noqa: E402
from harness.waiting import wait_until  # noqa: E402

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
POSTGRES = os.environ.get("DOCS_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")

# README commands another step runs: the file that runs it, and what that file must say.
RUN_ELSEWHERE = {
    "make run": (".ci/steps/10-users.sh", "scripts/run_smoke.py",
                 "scripts/run_smoke.py runs it on a fresh SQLite file until the API answers"),
    "make test": (".ci/steps/10-users.sh", "make test", "the unit suite's step"),
    "docker compose -f docker-compose-prod.yml up -d --build --scale users=3": (
        "tests/stack/test_checkers.py", '"config", "-q"',
        "no Docker engine here: the stack tests resolve the compose file and run its "
        "services as processes"),
}
# The programs of the course's commands, run here from services/users with the venv's.
COURSE_PROGRAMS = ("python", "flake8")
# What the course's `shell` is fed, and what it must print.
SHELL_INPUT, SHELL_OUTPUT = "print(User.__tablename__, db.engine.dialect.name)\n", "users"


def slug(heading):
    """Return GitHub's anchor for a heading: lower case, punctuation dropped, spaces as -."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    return {slug(heading) for heading in HEADING.findall(path.read_text())}


def broken_links(paths):
    """Return 'file: target' for each relative link in `paths` that leads nowhere."""
    broken = []
    for path in paths:
        name = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        for target in LINK.findall(path.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / urllib.parse.unquote(file_part)).resolve() if file_part \
                else path
            if not linked.exists():
                broken.append(f"{name}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{name}: {target} (no such heading)")
    return broken


def readme_commands(text):
    """Return the commands in the text's ```sh blocks, comments and blank lines left out."""
    commands = []
    for block in SHELL_BLOCK.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


class CourseCommands:
    """Run the course's `manage.py` commands and flake8 as README gives them, from
    services/users, on scratch development and test databases."""

    def __init__(self, log_dir):
        suffix = os.getpid()
        self.env = {**os.environ, "APP_SETTINGS": "project.config.DevelopmentConfig",
                    "DATABASE_URL": f"{POSTGRES}/users_docs_dev_{suffix}",
                    "DATABASE_TEST_URL": f"{POSTGRES}/users_docs_test_{suffix}",
                    "FLASK_RUN_PORT": str(free_port()),
                    "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
        self.processes = Processes(log_dir)

    def __enter__(self):
        for url in (self.env["DATABASE_URL"], self.env["DATABASE_TEST_URL"]):
            recreate_database(url)
        return self

    def __exit__(self, *exc):
        self.processes.stop_all()
        for url in (self.env["DATABASE_URL"], self.env["DATABASE_TEST_URL"]):
            drop_database(url)

    def run(self, command):
        """Run `command`; return what went wrong, or None."""
        words = command.split()
        if words[:3] == ["python", "manage.py", "run"]:
            return self.serve(words)
        stdin = SHELL_INPUT if words[2:3] == ["shell"] else None
        result = subprocess.run(words, cwd=USERS_DIR, env=self.env, input=stdin,
                                capture_output=True, text=True, timeout=600, check=False)
        if result.returncode != 0:
            return f"exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        if stdin and SHELL_OUTPUT not in result.stdout:
            return f"printed {result.stdout!r}, not {SHELL_OUTPUT!r}"
        return None

    def serve(self, words):
        """Start the development server as README says; it must answer the ping."""
        server = self.processes.start("manage-run", words, cwd=USERS_DIR, env=self.env)
        url = f"http://127.0.0.1:{self.env['FLASK_RUN_PORT']}/users/ping"
        try:
            wait_until(lambda: request(url, timeout=2).status == 200,
                       "the development server answering the ping", 60, server)
        except AssertionError as error:
            return str(error)
        finally:
            Processes.stop(server)
        return None


def check_commands(commands, log_dir):
    """Run or place each command; return the failures."""
    failures, to_run = place_commands(commands)
    if to_run:
        with CourseCommands(log_dir) as course:
            for command in to_run:
                problem = course.run(command)
                print(f"  {'FAILED' if problem else 'ran':<9}  {command}")
                if problem:
                    failures.append(f"{command}: {problem}")
    return failures


def place_commands(commands):
    """Sort README's commands: return the failures (commands nobody runs, steps that no
    longer run theirs) and the commands to run here, in README's order."""
    failures, to_run = [], []
    for command in commands:
        if command in RUN_ELSEWHERE:
            step, says, why = RUN_ELSEWHERE[command]
            if says in (REPO / step).read_text():
                print(f"  elsewhere  {command}  ({step}: {why})")
            else:
                failures.append(f"{command}: {step} no longer has {says!r}")
        elif command.split()[0] in COURSE_PROGRAMS:
            to_run.append(command)
        else:
            failures.append(f"{command}: README gives it, and this script neither runs "
                            "it nor knows which step does (RUN_ELSEWHERE)")
    return failures, to_run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--links-only", action="store_true", help="check the links only")
    parser.add_argument("--log-dir", default=str(REPO / ".ci" / "artifacts" / "docs"))
    args = parser.parse_args(argv)
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    failures = broken_links(pages)
    print(f"links: {len(pages)} pages, {len(failures)} broken")
    if not args.links_only:
        commands = readme_commands((REPO / "README.md").read_text())
        print(f"README's commands: {len(commands)}")
        failures += check_commands(commands, args.log_dir)
    for failure in failures:
        print(f"FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
