-- search.lua - wrk script for bench/mixed.sh: the reading client. Alternates
-- promise.search by a tag no promise has (the worst case: every stored row
-- is examined unless an index answers it) and promise.get of a promise the
-- create load stored (BENCH_RUN, thread 0, request 10).
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local n = 0
local headers = { ["Content-Type"] = "application/json" }

function request()
  n = n + 1
  local body
  if n % 2 == 1 then
    body = string.format(
      '{"kind":"promise.search","head":{"corrId":"%d","version":"2026-04-01"},' ..
      '"data":{"tags":{"bench":"no-such-value"},"limit":10}}', n)
  else
    body = string.format(
      '{"kind":"promise.get","head":{"corrId":"%d","version":"2026-04-01"},' ..
      '"data":{"id":"wrk-%s-0-10"}}', n, run)
  end
  return wrk.format("POST", "/", headers, body)
end
