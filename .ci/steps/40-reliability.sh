#!/usr/bin/env bash
# Reliability and security (docs/reliability.md): pip-audit on the service's pinned
# requirements, then the reliability suite (tests/reliability): Schemathesis against the
# OpenAPI description, PostgreSQL faults, lost writes, concurrency, graceful shutdown and a
# soak, on real gunicorn and a private PostgreSQL cluster (never the shared main one).
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

VENV=.ci/venv-reliability
REQUIREMENTS=tests/reliability/requirements.txt

# initdb and pg_ctl for the private cluster; runuser runs them as postgres (not root).
apt_install postgresql util-linux
RELIABILITY_PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin | sort -V | tail -n 1)
export RELIABILITY_PG_BIN
make install
venv "$VENV" python3 "$REQUIREMENTS"

rm -rf .ci/artifacts/reliability
mkdir -p .ci/artifacts/reliability
# Without --strict: a pin that is no longer PyPI's latest release cannot be audited here
# (tests/reliability/audit_requirements.py) and is skipped; check_audit.py then fails on any
# known vulnerability and on a skipped pin whose successor is 14 days old or more.
audit() {
  "$VENV/bin/python" tests/reliability/audit_requirements.py --no-deps --disable-pip \
    --progress-spinner off "$@"
}
check() {
  "$VENV/bin/python" tests/reliability/check_audit.py "$@"
}
echo "--- pip-audit: services/users/requirements.txt and requirements-dev.txt"
report=.ci/artifacts/reliability/pip-audit.json
audit_status=0
audit -r services/users/requirements.txt -r services/users/requirements-dev.txt \
  --format json --output "$report" || audit_status=$?
check "$report"
if [ "$audit_status" -ne 0 ]; then
  echo "pip-audit exited with status $audit_status" >&2
  exit 1
fi
echo "--- pip-audit control: a known-vulnerable pin must be reported"
# --strict: the control pin must be audited, or the run fails without reporting anything.
control_report=.ci/artifacts/reliability/pip-audit-control.json
audit_log=$(audit --strict -r tests/reliability/known-vulnerable.txt \
  --format json --output "$control_report" 2>&1) || true
if control=$(check "$control_report" 2>&1) || ! grep -q "PYSEC-" <<<"$control"; then
  echo "$audit_log"
  echo "$control"
  echo "pycrypto 2.6.1's known vulnerabilities were not reported, or check_audit.py" \
    "passed them: the audit is not working" >&2
  exit 1
fi
echo "pycrypto 2.6.1 reported as vulnerable, as it should be"

echo "--- reliability suite"
"$VENV/bin/python" -m pytest -c tests/reliability/pytest.ini tests/reliability
