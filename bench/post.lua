-- wrk script: POST the body in $BENCH_BODY as JSON; print one JSON summary line at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- BENCH_CLOSE=1: a new connection per request (what calf-cds's workers do on their own side).
if os.getenv("BENCH_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = file:read("*a")
file:close()

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "non2xx": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"timeout": %d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, errors.status,
    errors.connect, errors.read, errors.write, errors.timeout))
end
