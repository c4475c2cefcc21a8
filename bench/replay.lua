-- wrk sends each request of a file once, then stops (bench/harness.py: replay).
--
-- REPLAY_REQUESTS=file REPLAY_RESULT=file REPLAY_THREADS=n wrk -t n -s bench/replay.lua URL
-- REPLAY_REQUESTS holds raw HTTP requests, each after a line with its length in bytes.
-- Thread i of THREADS takes requests i, i + THREADS, ... and sends them on its
-- connections; it leaves REPLAY_RESULT.sent.<i> once it has sent its last, and
-- REPLAY_RESULT.done.<i> and stops once it has every answer, so that the caller can end
-- wrk (SIGINT) without waiting for -d. done() writes what the run did to REPLAY_RESULT.
-- With REPLAY_RATE (requests a second, all threads together) each thread sends its requests
-- on a schedule instead of as fast as it is answered: an open loop, as long as one of its
-- connections is free when a request is due.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } replay_timespec;
int clock_gettime(int clock, replay_timespec *now);
]])
local CLOCK_MONOTONIC = 1
local clock = ffi.new("replay_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1e6 + tonumber(clock.tv_nsec) / 1e3
end

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

local result_path = os.getenv("REPLAY_RESULT")
local mine, sent, received = {}, 0, 0
local verified -- wrk calls request() of its first thread once to check it, and sends nothing
first_us, last_us, statuses = nil, nil, {}

local function read_requests(path, index, stride)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  local position, number, taken = 1, 0, {}
  while position <= #data do
    local newline = data:find("\n", position, true)
    local length = tonumber(data:sub(position, newline - 1))
    if number % stride == index then
      table.insert(taken, data:sub(newline + 1, newline + length))
    end
    number = number + 1
    position = newline + 1 + length
  end
  return taken
end

local function mark(what)
  io.open(result_path .. "." .. what .. "." .. index, "w"):close()
end

function init(args)
  mine = read_requests(os.getenv("REPLAY_REQUESTS"), index, tonumber(os.getenv("REPLAY_THREADS")))
  verified = index ~= 0
end

local rate = tonumber(os.getenv("REPLAY_RATE"))
if rate then
  local interval_ms, origin_ms, scheduled

  function delay()
    local now_ms = now_us() / 1000
    if not origin_ms then
      interval_ms = 1000 * tonumber(os.getenv("REPLAY_THREADS")) / rate
      origin_ms, scheduled = now_ms, 0
    end
    scheduled = scheduled + 1
    return math.max(0, origin_ms + (scheduled - 1) * interval_ms - now_ms)
  end
end

function request()
  if not verified then
    verified = true
    return mine[1]
  end
  if sent == #mine then
    return "" -- this connection waits, answered never: the others finish the thread's share
  end
  first_us = first_us or now_us()
  sent = sent + 1
  if sent == #mine then
    mark("sent")
  end
  return mine[sent]
end

function response(status, headers, body)
  received = received + 1
  last_us = now_us()
  statuses[status] = (statuses[status] or 0) + 1
  if received == #mine then
    mark("done")
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local first, last, completed, by_status = math.huge, 0, 0, {}
  for _, thread in ipairs(threads) do
    first = math.min(first, thread:get("first_us") or math.huge)
    last = math.max(last, thread:get("last_us") or 0)
    for status, count in pairs(thread:get("statuses")) do
      by_status[#by_status + 1] = string.format("[%d, %d]", status, count)
      completed = completed + count
    end
  end
  local errors = summary.errors
  local figures = string.format(
    '{"completed": %d, "seconds": %.6f, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
      .. '"statuses": [%s], "socket_errors": %d}',
    completed, math.max(last - first, 0) / 1e6,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    table.concat(by_status, ", "),
    errors.connect + errors.read + errors.write + errors.timeout
  )
  local file = assert(io.open(result_path, "w"))
  file:write(figures)
  file:close()
end
