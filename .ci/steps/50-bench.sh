#!/usr/bin/env bash
# A smoke of the benchmark harness, not the benchmark (that is `make bench`, about 12
# minutes): a tiny table, one short round per route, one slow-commit delay, two small
# sizes. bench/run.py stops if the floor answers unlike the service and exits non-zero on
# any non-2xx response or socket error; here we also check that it wrote the table. Then
# a few requests through bench/inprocess.py, which stops on any non-2xx answer.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

apt_install wrk
make install
out=$(mktemp)
trap 'rm -f "$out"' EXIT
.venv/bin/python bench/run.py --out "$out" \
  --database-url "postgresql://postgres@127.0.0.1:5432/users_bench_smoke_$$" \
  --users 50 --rounds 1 --duration 1 --warmup 1 \
  --scale 50,500 --scale-rounds 1 --scale-duration 1 --commit-delays 2 --commit-rounds 1
for route in 'GET /users/ping' 'GET /users/<id>' 'GET /users (50)' 'POST /users'; do
  grep -qF "| \`$route\` |" "$out" || { echo "bench smoke: no row for $route" >&2; exit 1; }
done
grep -qE '^\| 2 \| [0-9,]+ \|' "$out" || { echo "bench smoke: no slow-commit row" >&2; exit 1; }
grep -qF "bare Flask/floor" "$out" || { echo "bench smoke: no bare Flask ping" >&2; exit 1; }
echo "bench smoke: table written, no non-2xx responses, no socket errors"
.venv/bin/python bench/inprocess.py --requests 40 --rounds 1 \
  --database-url "postgresql://postgres@127.0.0.1:5432/users_inprocess_smoke_$$"
