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
if [ ! -f "$VENV/.installed" ] || [ "$REQUIREMENTS" -nt "$VENV/.installed" ]; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  touch "$VENV/.installed"
fi

rm -rf .ci/artifacts/reliability
mkdir -p .ci/artifacts/reliability
audit() {
  "$VENV/bin/python" tests/reliability/audit_requirements.py --strict --no-deps --disable-pip \
    --progress-spinner off "$@"
}
echo "--- pip-audit: services/users/requirements.txt and requirements-dev.txt"
audit -r services/users/requirements.txt -r services/users/requirements-dev.txt \
  --format json --output .ci/artifacts/reliability/pip-audit.json
"$VENV/bin/python" - .ci/artifacts/reliability/pip-audit.json <<'PY'
import json, sys
dependencies = json.load(open(sys.argv[1]))["dependencies"]
vulnerable = [d for d in dependencies if d.get("vulns")]
for d in dependencies:
    print(f"  {d['name']} {d.get('version', '?')}: {len(d.get('vulns', []))} known vulnerabilities")
print(f"pip-audit: {len(dependencies)} pinned packages audited, {len(vulnerable)} vulnerable")
sys.exit(1 if vulnerable else 0)
PY
echo "--- pip-audit control: a known-vulnerable pin must be reported"
if control=$(audit -r tests/reliability/known-vulnerable.txt 2>&1) \
    || ! grep -q "PYSEC-" <<<"$control"; then
  echo "$control"
  echo "pip-audit did not report pycrypto 2.6.1's known vulnerabilities: it is not auditing" >&2
  exit 1
fi
echo "pycrypto 2.6.1 reported as vulnerable, as it should be"

echo "--- reliability suite"
"$VENV/bin/python" -m pytest -c tests/reliability/pytest.ini tests/reliability
