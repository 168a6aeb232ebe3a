-- create.lua - wrk script: POST / with promise.create, a unique id per request.
-- Ids are "wrk-<run>-<thread>-<n>": BENCH_RUN (env) keeps runs against the
-- same database apart, the thread number and a per-thread counter keep
-- requests apart. The bare handler gets the same bodies, so both sides of
-- the ratio parse requests of the same size.
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local n = 0
local headers = { ["Content-Type"] = "application/json" }

function request()
  n = n + 1
  local body = string.format(
    '{"kind":"promise.create","head":{"corrId":"%d","version":"2026-04-01"},' ..
    '"data":{"id":"wrk-%s-%d-%d","timeoutAt":4102444800000,"param":{},"tags":{}}}',
    n, run, tid, n)
  return wrk.format("POST", "/", headers, body)
end
