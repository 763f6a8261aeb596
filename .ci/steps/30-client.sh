#!/usr/bin/env bash
# The client: its unit tests (Vitest), the production build, then the browser test
# (Debian's Chromium through nginx's prod.conf to gunicorn and PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

apt_install chromium nginx
ensure_postgres
make install

cd services/client
npm ci --no-audit --no-fund
npm test
VITE_USERS_SERVICE_URL="" npm run build  # same origin: the page calls /users through nginx
npm run test:e2e
