"""check_audit.py's verdicts on pip-audit reports, with PyPI's answers made up (no network).

No fixture here needs PostgreSQL or gunicorn.
"""

from datetime import datetime, timedelta, timezone

import requests

from check_audit import judge

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
SKIP_REASON = "Dependency not found on PyPI and could not be audited: {} ({})"


def audited(name, version, *vuln_ids):
    return {"name": name, "version": version,
            "vulns": [{"id": vuln_id, "fix_versions": []} for vuln_id in vuln_ids]}


def skipped(name, version):
    return {"name": name, "skip_reason": SKIP_REASON.format(name, version)}


def report(*dependencies):
    return {"dependencies": list(dependencies), "fixes": []}


def project(published_days_ago):
    """PyPI's project JSON, from {version: days since its upload}; the last one is the latest."""
    releases = {}
    for version, days_ago in published_days_ago.items():
        upload = (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")
        releases[version] = [{"upload_time_iso_8601": upload, "yanked": False}]
    return {"info": {"version": version}, "releases": releases}


def pypi(**projects):
    """A lookup that answers from `projects`, and None (PyPI's 404) for any other name."""
    return lambda name: projects.get(name)


def test_known_vulnerability_fails():
    verdict = judge(report(audited("click", "8.5.1"),
                           audited("pycrypto", "2.6.1", "PYSEC-2017-94", "PYSEC-2018-97")),
                    pypi(), NOW)

    assert not verdict.passed
    assert "  pycrypto 2.6.1: 2 known vulnerabilities (PYSEC-2017-94, PYSEC-2018-97)" \
        in verdict.lines
    assert verdict.lines[-1] == "pip-audit: 2 pinned packages audited, 1 vulnerable, 0 not audited"


def test_a_vulnerability_listed_twice_counts_once():
    """PyPI lists a PYSEC entry and its GHSA alias; pip-audit names both by the PYSEC id."""
    verdict = judge(report(audited("pycrypto", "2.6.1", "PYSEC-2017-94", "PYSEC-2017-94")),
                    pypi(), NOW)

    assert verdict.lines[0] == "  pycrypto 2.6.1: 1 known vulnerabilities (PYSEC-2017-94)"


def test_all_clean_passes():
    verdict = judge(report(audited("click", "8.5.1"), audited("flake8", "7.5.0")), pypi(), NOW)

    assert verdict.passed and not verdict.warnings
    assert verdict.lines == ["  click 8.5.1: 0 known vulnerabilities",
                             "  flake8 7.5.0: 0 known vulnerabilities",
                             "pip-audit: 2 pinned packages audited, 0 vulnerable, 0 not audited"]


def test_pin_superseded_3_days_ago_passes_with_a_warning():
    lookup = pypi(coverage=project({"7.17.3": 14, "7.17.5": 3}))
    verdict = judge(report(audited("click", "8.5.1"), skipped("coverage", "7.17.3")), lookup, NOW)

    assert verdict.passed
    assert verdict.warnings == [
        "coverage 7.17.3 not audited: PyPI serves data only for the latest release, 7.17.5, "
        "published 3 days ago; bump the pin (grace: 14 days)"]
    assert verdict.lines[-1] == "pip-audit: 1 pinned packages audited, 0 vulnerable, 1 not audited"


def test_pin_superseded_30_days_ago_fails():
    lookup = pypi(coverage=project({"7.17.3": 40, "7.17.5": 30}))
    verdict = judge(report(audited("click", "8.5.1"), skipped("coverage", "7.17.3")), lookup, NOW)

    assert not verdict.passed
    assert "the pin is stale" in verdict.failures[0]
    assert "published 30 days ago" in verdict.failures[0]


def test_grace_counts_from_the_first_release_after_the_pin():
    """A fresh latest release does not excuse a pin that an older release already replaced."""
    lookup = pypi(coverage=project({"7.17.3": 40, "7.17.4": 20, "7.17.5": 3}))
    verdict = judge(report(audited("click", "8.5.1"), skipped("coverage", "7.17.3")), lookup, NOW)

    assert not verdict.passed
    assert "7.17.4, the first release after the pin, was published 20 days ago" \
        in verdict.failures[0]


def test_skipped_package_not_on_pypi_fails():
    verdict = judge(report(audited("click", "8.5.1"), skipped("our-fork", "1.0")), pypi(), NOW)

    assert not verdict.passed
    assert verdict.failures == ["our-fork 1.0 not audited: PyPI has no project our-fork"]


def test_failed_lookup_fails():
    def unreachable(name):
        raise requests.ConnectionError("proxy down")

    verdict = judge(report(audited("click", "8.5.1"), skipped("coverage", "7.17.3")),
                    unreachable, NOW)

    assert not verdict.passed
    assert "PyPI lookup failed (ConnectionError: proxy down)" in verdict.failures[0]


def test_nothing_audited_fails():
    lookup = pypi(coverage=project({"7.17.3": 4, "7.17.5": 3}))
    verdict = judge(report(skipped("coverage", "7.17.3")), lookup, NOW)

    assert not verdict.passed
    assert verdict.failures == ["nothing was audited"]
    assert verdict.lines[-1] == "pip-audit: 0 pinned packages audited, 0 vulnerable, 1 not audited"
