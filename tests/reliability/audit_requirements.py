"""Run pip-audit on pinned requirements, where PyPI may serve only project-level JSON.

pip-audit's PyPI service asks `/pypi/<name>/<version>/json` for each pin. Some mirrors and
proxies (this CI's among them) answer only `/pypi/<name>/json`, which describes the latest
release, its `vulnerabilities` included. When the release URL is missing and the pin *is*
the latest release, that answer is the same document, so we use it; any other pin stays
unaudited: pip-audit reports it as skipped, and check_audit.py decides whether that may pass.

Usage: the arguments of `pip-audit`, e.g. `audit_requirements.py -r requirements.txt`.
"""

import re
import sys

from packaging.version import InvalidVersion, Version
from pip_audit import _cli
from pip_audit._service import pypi

RELEASE_URL = re.compile(r"https://pypi\.org/pypi/(?P<name>[^/]+)/(?P<version>[^/]+)/json")
original_session = pypi.caching_session


def same_version(a, b):
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def with_latest_release_fallback(session):
    """Make a 404 for a release's JSON fall back to the project's, if it is that release."""
    get = session.get

    def get_with_fallback(url, **kwargs):
        response = get(url, **kwargs)
        match = RELEASE_URL.fullmatch(url)
        if response.status_code != 404 or match is None:
            return response
        project = get(f"https://pypi.org/pypi/{match['name']}/json", **kwargs)
        if project.ok and same_version(project.json()["info"]["version"], match["version"]):
            return project
        return response

    session.get = get_with_fallback
    return session


def caching_session(*args, **kwargs):
    return with_latest_release_fallback(original_session(*args, **kwargs))


if __name__ == "__main__":
    pypi.caching_session = caching_session
    sys.argv[0] = "pip-audit"
    _cli.audit()
