#!/usr/bin/env bash
# A smoke of the benchmark harness, not the benchmark (that is `make bench`, about 20
# minutes): a tiny table, one short round per route, one slow-commit delay, two small
# sizes for the whole list and for a page of 100. bench/run.py stops if a floor, or an
# app under granian, answers unlike the service, and exits non-zero on any non-2xx
# response or socket error; here we also check that it wrote the table's rows and
# ratios. Then a few requests through bench/inprocess.py and bench/instructions.py,
# which stop on any non-2xx answer.
set -euo pipefail
cd "$(dirname "$0")/../.."
source .ci/lib.sh

apt_install wrk valgrind
make install-bench
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# Scratch databases, created and dropped by the scripts; the prefix keeps checkouts that
# share one PostgreSQL apart.
database="postgresql://postgres@127.0.0.1:5432/${BENCH_DATABASE_PREFIX:-users_bench_smoke}_$$"
# --tree .: this checkout again as "another tree", so the same-rounds table and its POSTs
# (tagged users named after the tree's commit) are exercised too.
.venv/bin/python bench/run.py --out "$out" --database-url "$database" \
  --users 50 --rounds 1 --duration 1 --warmup 1 --tree . \
  --scale 50,500 --page-scale 50,500 --scale-rounds 1 --scale-duration 1 --commit-delays 2 \
  --commit-rounds 1

# expect_row ROUTE CELLS WHAT: the table has a row starting with ROUTE and CELLS (a regex).
expect_row() {
  grep -F "| \`$1\` |" "$out" | grep -qE "^\| \`[^\`]+\` \| $2" \
    || { echo "bench smoke: no $3 row for $1" >&2; exit 1; }
}
ratio='[0-9]+\.[0-9]{2}'
rps='[0-9][0-9,]*'
for route in 'GET /users/ping' 'GET /users/<id>' 'GET /users (50)' 'POST /users'; do
  # Service, Flask floor, raw floor req/s, then service/Flask floor (bold), service/raw floor.
  expect_row "$route" "gunicorn \| $rps \| $rps \| $rps \| \*\*$ratio\*\* \| $ratio \|" gunicorn
  expect_row "$route" "granian \| $rps \| $rps \|  \| $ratio \|  \|" granian
  expect_row "$route" "$ratio \| $ratio \|$" "granian/gunicorn"
done
expect_row "POST /users" "$rps \| $rps \| \*\*$ratio\*\* \|" "two sync workers"
grep -qE '^\| 2 \| [0-9,]+ \|' "$out" || { echo "bench smoke: no slow-commit row" >&2; exit 1; }
# The page growth table: users, both pages' p50 and req/s, memory, no failed answers.
grep -qE '^\| 500 \| [0-9.]+ \| [0-9.]+ \| [0-9,]+ \| [0-9,]+ \| [0-9.]+, [0-9.]+ \| 0, 0 \|$' \
  "$out" || { echo "bench smoke: no GET /users?limit=100 row" >&2; exit 1; }
trees=$(grep -A 8 "^Other trees' services and this tree's variants" "$out")
grep -qF "\`service+metrics-off\`" <<<"$trees" \
  || { echo "bench smoke: no metrics-off column" >&2; exit 1; }
for route in 'GET /users/ping' 'GET /users/<id>' 'GET /users (50)' 'POST /users'; do
  # This tree, the same checkout as service@<commit>, then this tree on the session and
  # with metrics off (the default variants): plain ratios, no failed answers.
  grep -F "| \`$route\` |" <<<"$trees" \
    | grep -qE "^\| \`[^\`]+\` \| $ratio \| $ratio \| $ratio \| $ratio \|$" \
    || { echo "bench smoke: no other trees' row for $route" >&2; exit 1; }
done
echo "bench smoke: table written with its gunicorn, granian and ratio rows;" \
  "no non-2xx responses, no socket errors"
.venv/bin/python bench/inprocess.py --requests 40 --rounds 1 --database-url "${database}_inprocess"
# 200 requests apart: with fewer, what start-up and exit vary by outweighs the requests.
instructions=$(.venv/bin/python bench/instructions.py --routes ping,post --requests 250 \
  --base 50 --database-url "${database}_instructions")
echo "$instructions"
# The service's row: instructions per request for both routes, then both ratios, each
# between 0.5 and 1.4 of the Flask floor's (it is 0.86-0.92 at make bench's sizes).
grep -qE "^\| [^|]+ \| service \| [0-9,]+ \| [0-9,]+ \| (0\.[5-9]|1\.[0-3])[0-9]{2} \| (0\.[5-9]|1\.[0-3])[0-9]{2} \|$" \
  <<<"$instructions" || { echo "instructions smoke: no plausible service row" >&2; exit 1; }
