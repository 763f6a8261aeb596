"""Judge pip-audit's JSON report on the pinned requirements; exit 1 if the audit fails.

It fails on any known vulnerability. This CI's PyPI proxy serves only a project's JSON,
which describes its latest release, so pip-audit (through audit_requirements.py) can audit a
pin only while it is the latest release, and skips it from the day a newer one is out.
Such a pin passes with a warning while the first release after it is less than GRACE old,
and fails after: CI neither turns red the day upstream publishes nor stays green on a pin
nobody audits. Any other skip (not on PyPI, lookup failed, not a pin) fails.

Usage: check_audit.py .ci/artifacts/reliability/pip-audit.json
"""

import json
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import requests
from packaging.version import InvalidVersion, Version

# Two weeks: time to bump a pin in an ordinary change even across a busy week or a holiday,
# while no pin stays unaudited for longer than that.
GRACE = timedelta(days=14)

# pip-audit's reason when PyPI answers 404 for the release's JSON (pip_audit/_service/pypi.py).
RELEASE_NOT_FOUND = re.compile(
    r"Dependency not found on PyPI and could not be audited: \S+ \((?P<version>[^()]+)\)")


@dataclass
class Verdict:
    lines: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    failures: list = field(default_factory=list)

    @property
    def passed(self):
        return not self.failures


def project_json(name):
    """PyPI's JSON for a project (its latest release), or None if PyPI has no such project."""
    response = requests.get(f"https://pypi.org/pypi/{name}/json", timeout=30)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return response.json()


def first_upload(files):
    return min(datetime.fromisoformat(file["upload_time_iso_8601"]) for file in files)


def superseded(pin, project):
    """Return (latest, first release after the pin, when that one was published).

    The grace period counts from that first release, when the pin stopped being auditable:
    counting from the latest would let a package that releases often keep a pin unaudited.
    """
    latest = Version(project["info"]["version"])
    newer = []
    for number, files in project["releases"].items():
        try:
            version = Version(number)
        except InvalidVersion:
            continue
        # Only releases PyPI could have called the latest: final and not yanked.
        if pin < version <= latest and not version.is_prerelease \
                and not all(file.get("yanked") for file in files):
            newer.append((version, first_upload(files)))
    if not newer:
        raise ValueError(f"PyPI's latest release is {latest}, not newer than the pin")
    if latest not in dict(newer):
        raise ValueError(f"PyPI lists no files for its latest release, {latest}")
    first, published = min(newer)
    return latest, first, published


def days(age):
    return f"{age.days} day{'' if age.days == 1 else 's'}"


def judge_skipped(name, reason, lookup, now):
    """Return (why `name` was not audited, whether that may pass for now)."""
    match = RELEASE_NOT_FOUND.fullmatch(reason)
    if match is None:
        return f"{name} not audited: {reason}", False
    label = f"{name} {match['version']} not audited"
    try:
        project = lookup(name)
        if project is None:
            return f"{label}: PyPI has no project {name}", False
        latest, first, published = superseded(Version(match["version"]), project)
        age = now - published
    except Exception as error:
        return f"{label}: PyPI lookup failed ({type(error).__name__}: {error})", False
    why = f"{label}: PyPI serves data only for the latest release, {latest}, "
    if first == latest:
        why += f"published {days(age)} ago"
    else:
        why += f"and {first}, the first release after the pin, was published {days(age)} ago"
    if age < GRACE:
        return f"{why}; bump the pin (grace: {GRACE.days} days)", True
    return f"{why}; the pin is stale (grace: {GRACE.days} days): bump it", False


def judge(report, lookup=project_json, now=None):
    """Judge a pip-audit JSON report (its dict). `lookup(name)` gives PyPI's project JSON."""
    now = now or datetime.now(timezone.utc)
    verdict = Verdict()
    audited = vulnerable = skipped = 0
    for dependency in report["dependencies"]:
        name = dependency["name"]
        if "skip_reason" in dependency:
            skipped += 1
            why, passes = judge_skipped(name, dependency["skip_reason"], lookup, now)
            verdict.lines.append(f"  {why}")
            if passes:
                verdict.warnings.append(why)
            else:
                verdict.failures.append(why)
            continue
        audited += 1
        # Distinct ids: PyPI lists a PYSEC entry and its GHSA alias, which pip-audit names alike.
        ids = list(dict.fromkeys(vuln["id"] for vuln in dependency["vulns"]))
        line = f"{name} {dependency['version']}: {len(ids)} known vulnerabilities"
        verdict.lines.append(f"  {line} ({', '.join(ids)})" if ids else f"  {line}")
        if ids:
            vulnerable += 1
            verdict.failures.append(line)
    verdict.lines.append(f"pip-audit: {audited} pinned packages audited, {vulnerable} vulnerable,"
                         f" {skipped} not audited")
    if not audited:
        verdict.failures.append("nothing was audited")
    return verdict


def main(path):
    try:
        with open(path, encoding="utf-8") as report_file:
            report = json.load(report_file)
    except (OSError, ValueError) as error:
        print(f"FAIL: cannot read pip-audit's report: {error}")
        return 1
    verdict = judge(report)
    for line in verdict.lines:
        print(line)
    for warning in verdict.warnings:
        print(f"WARNING: {warning}")
    for failure in verdict.failures:
        print(f"FAIL: {failure}")
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
