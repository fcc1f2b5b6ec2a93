-- wrk script for bench_serving.py: cycles through request bodies (one JSON per line of the file given after
-- "--"), and prints one machine-readable line at the end.
local bodies = {}
local i = 0

init = function(args)
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  i = math.random(#bodies)
end

request = function()
  i = i % #bodies + 1
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, bodies[i])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
