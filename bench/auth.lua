-- auth.lua - wrk script for bench/auth.sh: POST / with promise.get of one
-- existing id (BENCH_ID), the token placed according to BENCH_AUTH:
--   none    no token (the server runs without auth)
--   head    BENCH_TOKEN in head.auth, the same token every request (cache hit)
--   header  BENCH_TOKEN in "Authorization: Bearer", same token every request
--   fresh   head.auth cycles through the tokens of the file BENCH_TOKENS, one
--           per line; with more tokens than the verifier's cache holds,
--           every request costs a full signature check
-- BENCH_OP=create sends promise.create of a unique id under the same prefix
-- instead (ids "<BENCH_ID>-<run>-<thread>-<n>"), with BENCH_TAGS tags
-- (default 0; each is a row of the tag index: more work for the store)
-- and BENCH_DATA_BYTES bytes of param data (default 0; base64, rounded down
-- to a multiple of 4: bodies of that size).
local mode = os.getenv("BENCH_AUTH") or "none"
local token = os.getenv("BENCH_TOKEN") or ""
local id = os.getenv("BENCH_ID") or "bench:p"
local op = os.getenv("BENCH_OP") or "get"
local run = os.getenv("BENCH_RUN") or tostring(os.time())
local tags = {}
for i = 1, tonumber(os.getenv("BENCH_TAGS") or "0") do
  tags[#tags + 1] = string.format('"t%d":"v%d"', i, i)
end
tags = "{" .. table.concat(tags, ",") .. "}"
local param = "{}"
local data_bytes = tonumber(os.getenv("BENCH_DATA_BYTES") or "0")
if data_bytes >= 4 then
  param = '{"data":"' .. string.rep("QUJD", math.floor(data_bytes / 4)) .. '"}'
end
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

local tokens = {}
local n = 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  if mode == "fresh" then
    for line in io.lines(os.getenv("BENCH_TOKENS")) do
      tokens[#tokens + 1] = line
    end
    -- Threads start evenly spread over the list, so a token comes back
    -- only after about #tokens other requests.
    local nthreads = tonumber(os.getenv("BENCH_THREADS") or "2")
    n = tid * math.floor(#tokens / nthreads)
  end
  if mode == "header" then
    headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  n = n + 1
  local auth = ""
  if mode == "head" then
    auth = ',"auth":"' .. token .. '"'
  elseif mode == "fresh" then
    auth = ',"auth":"' .. tokens[(n % #tokens) + 1] .. '"'
  end
  local body
  if op == "create" then
    body = string.format(
      '{"kind":"promise.create","head":{"corrId":"%d","version":"2026-04-01"%s},' ..
      '"data":{"id":"%s-%s-%d-%d","timeoutAt":4102444800000,"param":%s,"tags":%s}}',
      n, auth, id, run, tid, n, param, tags)
  else
    body = string.format(
      '{"kind":"promise.get","head":{"corrId":"%d","version":"2026-04-01"%s},"data":{"id":"%s"}}',
      n, auth, id)
  end
  return wrk.format("POST", "/", headers, body)
end
