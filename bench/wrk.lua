-- wrk script for bench/run.py.
-- With BENCH_POST_TAG set, every request POSTs a user no other request has sent
-- (the tag, wrk's thread number and a counter make the name); without it, wrk sends
-- its plain GET. Either way, done() prints one "BENCH_JSON {...}" line to parse.

local tag = os.getenv("BENCH_POST_TAG")
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

if tag then
  local counter = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"

  function request()
    counter = counter + 1
    local name = string.format("%s-%d-%d", tag, thread_number, counter)
    local body = string.format('{"username": "%s", "email": "%s@bench.mherman.org"}',
                               name, name)
    return wrk.format(nil, nil, nil, body)
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "status": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect, errors.read, errors.write, errors.timeout, errors.status))
end
