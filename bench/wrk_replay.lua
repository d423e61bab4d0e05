-- Replays pre-signed raw HTTP requests, each exactly once, then idles (see bench/load.py).
-- Usage: wrk -t T -c C -s bench/wrk_replay.lua URL -- <dir>   (reads <dir>/requests.<thread>)
-- Each thread reports "wrk-thread-done" on stderr after its last response (and progress every
-- 500), so the caller can stop wrk; done() prints one "BENCH_JSON {...}" line.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_us()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000000 + tonumber(tv.tv_usec)
end

local threads, next_id = {}, 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1] .. "/requests." .. thread_id, "rb"))
  local data = file:read("*a")
  file:close()
  reqs, pos = {}, 1
  while pos <= #data do
    local newline = data:find("\n", pos, true)
    local length = tonumber(data:sub(pos, newline - 1))
    reqs[#reqs + 1] = data:sub(newline + 1, newline + length)
    pos = newline + length + 1
  end
  total, granted, sent, received = #reqs, 0, 0, 0
  statuses, first_us, last_us = {}, 0, 0
  overflow = "GET /__bench_overflow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
end

-- Every send asks delay() first: grant one slot per request, then park the connection.
function delay()
  if granted < total then
    granted = granted + 1
    return 0
  end
  return 3600000
end

function request()
  if granted == 0 then return reqs[1] or overflow end -- wrk's start-up probe, not a send
  sent = sent + 1
  if sent == 1 then first_us = now_us() end
  return reqs[sent] or overflow -- overflow only after a socket error forced a resend
end

function response(status, headers, body)
  received = received + 1
  statuses[status] = (statuses[status] or 0) + 1
  last_us = now_us()
  if received == total then
    io.stderr:write("wrk-thread-done\n")
  elseif received % 500 == 0 then
    io.stderr:write("wrk-progress\n") -- lets the caller notice a stall
  end
  io.stderr:flush()
end

function done(summary, latency, requests)
  local counts, first, last, got, want = {}, math.huge, 0, 0, 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do counts[code] = (counts[code] or 0) + n end
    first = math.min(first, t:get("first_us"))
    last = math.max(last, t:get("last_us"))
    got, want = got + t:get("received"), want + t:get("total")
  end
  local parts = {}
  for code, n in pairs(counts) do parts[#parts + 1] = string.format('"%d": %d', code, n) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"statuses": {%s}, "first_us": %.0f, "last_us": %.0f, "received": %d, ' ..
    '"total": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "errors": {"connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d}}\n',
    table.concat(parts, ", "), first, last, got, want, latency:percentile(50),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.timeout))
end
