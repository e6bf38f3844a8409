-- wrk script of the portal's HTTP benchmarks (bench/wrk.py runs it; see its docstring).
--
-- Run with as many wrk threads as connections (-t N -c N), so each thread IS one connection:
-- its requests and responses alternate, and per-connection state (its patients and their
-- tokens, its slots, the request in flight) lives in the thread's own Lua state.
--
-- Environment (set by bench/wrk.py):
--   BENCH_MODE     get | listing | reserve | rush
--   BENCH_CONNECTIONS  the -c (= -t) given to wrk
--   BENCH_PATH     get: the path to ask for
--   BENCH_TOKENS   reserve, rush: a file of bearer tokens, one a line; connection k takes
--                  lines k, k + N, k + 2N, ... (a patient belongs to one connection)
--   BENCH_SLOTS    reserve, rush: a file of slot ids, one a line; reserve: connection k takes
--                  its own share (lines k, k + N, ...); rush: every connection picks among all
--   BENCH_DOCTORS  listing: a file of doctor ids, one a line
--   BENCH_QUERY    listing: the query string after '?'
--   BENCH_MAX_HOLDS reserve: holds a patient may have (MAX_ACTIVE_HOLDS)
--   BENCH_START_US, BENCH_SPREAD_MS  rush (and paced listing): the first request goes at
--                  BENCH_START_US (CLOCK_MONOTONIC, microseconds); a connection's requests are
--                  spread evenly over BENCH_SPREAD_MS from there
--   BENCH_INTERVAL_MS  listing: pace each connection (0: closed loop, as fast as answered)
--
-- Each thread counts statuses (and the problem title of 4xx answers), and records the latency
-- of each request and the monotonic time of each answer; done() prints one line of JSON.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local timespec = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, timespec) -- CLOCK_MONOTONIC, as Python's time.monotonic()
  return tonumber(timespec.tv_sec) * 1000000 + math.floor(tonumber(timespec.tv_nsec) / 1000)
end

local function lines_of(path, stride, offset)
  local found, i = {}, 0
  if not path or path == "" then return found end
  for line in io.lines(path) do
    if line ~= "" then
      if stride == nil or i % stride == offset then found[#found + 1] = line end
      i = i + 1
    end
  end
  return found
end

-- setup() runs in the main Lua state once per thread, before any of them starts.
-- (A thread starts as soon as its setup() and init() have run, so the number of threads comes
-- from the environment, not from counting them here.)
local threads, thread_count = {}, 0
function setup(thread)
  thread:set("tid", thread_count)
  thread_count = thread_count + 1
  threads[#threads + 1] = thread
end

-- Per thread (= per connection) from here on.
mode = os.getenv("BENCH_MODE") or "get"
statuses, titles, latencies, answered_at = {}, {}, {}, {}
sent, exhausted = 0, 0
local started, pending = nil, nil
local tokens, slots, doctors, holds = {}, {}, {}, {}
local next_patient, next_slot, path, query = 1, 1, nil, nil
local max_holds, start_us, spread_ms, interval_ms = 2, 0, 0, 0
local schedule = {}

function init(args)
  nthreads = tonumber(os.getenv("BENCH_CONNECTIONS") or "1")
  math.randomseed(1000 + tid)
  path = os.getenv("BENCH_PATH") or "/healthz"
  query = os.getenv("BENCH_QUERY") or ""
  max_holds = tonumber(os.getenv("BENCH_MAX_HOLDS") or "2")
  start_us = tonumber(os.getenv("BENCH_START_US") or "0")
  spread_ms = tonumber(os.getenv("BENCH_SPREAD_MS") or "0")
  interval_ms = tonumber(os.getenv("BENCH_INTERVAL_MS") or "0")
  if mode == "reserve" or mode == "rush" then
    tokens = lines_of(os.getenv("BENCH_TOKENS"), nthreads, tid)
    for i = 1, #tokens do holds[i] = 0 end
  end
  if mode == "reserve" then
    slots = lines_of(os.getenv("BENCH_SLOTS"), nthreads, tid)
    for i = #slots, 2, -1 do -- shuffle this connection's share
      local j = math.random(i)
      slots[i], slots[j] = slots[j], slots[i]
    end
  elseif mode == "rush" then
    slots = lines_of(os.getenv("BENCH_SLOTS"))
    -- One attempt per patient, evenly spread over the rush, from a random offset.
    local step = spread_ms / math.max(#tokens, 1)
    local offset = math.random() * step
    for i = 1, #tokens do schedule[i] = start_us + math.floor((offset + (i - 1) * step) * 1000) end
  elseif mode == "listing" then
    doctors = lines_of(os.getenv("BENCH_DOCTORS"))
  end
end

function delay()
  if mode == "rush" then
    local at = schedule[next_patient]
    if at == nil then return 3600000 end -- every patient of this connection has tried
    return math.max(0, math.floor((at - now_us()) / 1000))
  end
  if interval_ms > 0 then
    if sent == 0 and start_us > 0 then
      return math.max(0, math.floor((start_us - now_us()) / 1000) + math.random(interval_ms))
    end
    return interval_ms
  end
  return 0
end

local function post(token, slot)
  return wrk.format("POST", "/api/v1/appointments/reserve",
                    {["Authorization"] = "Bearer " .. token,
                     ["Content-Type"] = "application/json"},
                    '{"slot_id": "' .. slot .. '"}')
end

local function next_reserve()
  -- The next patient of this connection below the hold limit, and a slot it has not tried.
  for _ = 1, #tokens do
    local i = next_patient
    next_patient = next_patient % #tokens + 1
    if holds[i] < max_holds and next_slot <= #slots then
      local slot = slots[next_slot]
      next_slot = next_slot + 1
      pending = i
      return post(tokens[i], slot)
    end
  end
  return nil
end

function request()
  started = now_us()
  sent = sent + 1
  if mode == "reserve" then
    local req = next_reserve()
    if req then return req end
    exhausted = exhausted + 1 -- no work left: stop this connection after a harmless request
    pending = nil
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  elseif mode == "rush" then
    local i = next_patient
    next_patient = next_patient + 1
    pending = i
    return post(tokens[i], slots[math.random(#slots)])
  elseif mode == "listing" then
    local doctor = doctors[math.random(#doctors)]
    return wrk.format("GET", "/api/v1/availability/doctors/" .. doctor .. "/slots?" .. query)
  end
  return wrk.format("GET", path)
end

function response(status, headers, body)
  local now = now_us()
  latencies[#latencies + 1] = now - started
  answered_at[#answered_at + 1] = now
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status >= 400 and body then
    local title = string.match(body, '"title"%s*:%s*"([^"]*)"') or "?"
    local tkey = key .. " " .. title
    titles[tkey] = (titles[tkey] or 0) + 1
    if mode == "reserve" and pending and title == "Too many holds" then
      holds[pending] = max_holds
    end
  elseif status == 201 and pending then
    holds[pending] = holds[pending] + 1
  end
  pending = nil
  if mode == "rush" and schedule[next_patient] == nil then
    wrk.thread:stop() -- every patient of this connection has had an answer
  end
end

-- done() runs in the main state after every thread has stopped: gather their counts.
local function encode(value)
  local kind = type(value)
  if kind == "number" then
    if value ~= value or value == math.huge or value == -math.huge then return "null" end
    if value == math.floor(value) then return string.format("%d", value) end
    return string.format("%.3f", value)
  elseif kind == "string" then
    return '"' .. value:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
  elseif kind == "table" then
    local parts = {}
    if #value > 0 or next(value) == nil then
      for _, v in ipairs(value) do parts[#parts + 1] = encode(v) end
      return "[" .. table.concat(parts, ",") .. "]"
    end
    for k, v in pairs(value) do parts[#parts + 1] = encode(tostring(k)) .. ":" .. encode(v) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return "null"
end

function done(summary, latency, requests)
  local all_statuses, all_titles, all_latencies, all_answered = {}, {}, {}, {}
  local total_sent, total_exhausted = 0, 0
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses") or {}) do all_statuses[k] = (all_statuses[k] or 0) + v end
    for k, v in pairs(t:get("titles") or {}) do all_titles[k] = (all_titles[k] or 0) + v end
    for _, v in ipairs(t:get("latencies") or {}) do all_latencies[#all_latencies + 1] = v end
    for _, v in ipairs(t:get("answered_at") or {}) do all_answered[#all_answered + 1] = v end
    total_sent = total_sent + (t:get("sent") or 0)
    total_exhausted = total_exhausted + (t:get("exhausted") or 0)
  end
  io.write("BENCH-WRK " .. encode({
    requests = summary.requests, duration_us = summary.duration, bytes = summary.bytes,
    errors = summary.errors, statuses = all_statuses, titles = all_titles,
    sent = total_sent, exhausted = total_exhausted,
    wrk_latency_us = {p50 = latency:percentile(50), p90 = latency:percentile(90),
                      p99 = latency:percentile(99), max = latency.max, mean = latency.mean},
    latencies_us = all_latencies, answered_at_us = all_answered,
  }) .. "\n")
end
