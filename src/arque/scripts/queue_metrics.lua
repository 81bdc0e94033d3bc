-- queue_metrics: the gauges of one queue for a metrics scrape, in one atomic read.
-- KEYS[1] pending   LIST  ids ready to hand out
-- KEYS[2] delayed   ZSET  id -> due time (ms)
-- KEYS[3] working   ZSET  id -> lease deadline (ms)
-- KEYS[4] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[5] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[6] workers   ZSET  worker name -> registration expiry (ms)
-- KEYS[7] config    HASH  the queue's stored settings
-- KEYS[8] prioritized  ZSET  ready ids without a group, priority != 0 (counted in pending)
-- KEYS[9] grouped      ZSET  ready tasks of groups (counted in pending)
-- KEYS[10] leases      HASH  id -> delivery token (a working task's hand-out time: handed_out)
-- ARGV[1] scan      how many working tasks (soonest deadlines first) to look at for the oldest lease
-- ARGV[2] working_limit  the caller's, used when the config stores none
-- returns {pending (all ready tasks), delayed, working, failed, oldest_ready_age_ms (of the plain
--          list and delayed tasks), oldest_lease_age_ms, workers,
--          working_limit} (an age is -1 when there is no such task; due delayed tasks not yet
--          promoted count as ready)
--@include now_ms
--@include record
--@include handed_out
--@include ready_since
--@include queue_config
local pending, delayed, working, failed, tasks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = now_ms()

-- How long a task (its record) has been ready, -1 when it is gone.
local function ready_age(raw)
  if not raw then return -1 end
  return math.max(now - ready_since(cjson.decode(record_meta(raw))), 0)
end

-- Pending is a line: LPUSH in, RPOP out; its tail is the one waiting longest.
-- A delayed task already due has been ready since its due time.
local oldest_ready = -1
local tail = redis.call('LINDEX', pending, -1)
if tail then oldest_ready = ready_age(redis.call('HGET', tasks, tail)) end
local due = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if due[2] and tonumber(due[2]) <= now then
  oldest_ready = math.max(oldest_ready, now - tonumber(due[2]))
end

-- Leases are renewed, so the soonest deadline is not always the oldest hand-out:
-- look at up to `scan` of them.
local oldest_lease = -1
local held = redis.call('ZRANGE', working, 0, tonumber(ARGV[1]) - 1)
if #held > 0 then
  local tokens = redis.call('HMGET', KEYS[10], unpack(held))
  for _, token in ipairs(tokens) do
    local since = handed_out({}, token)['d']
    if since then oldest_lease = math.max(oldest_lease, math.max(now - since, 0)) end
  end
end

local workers = redis.call('ZCOUNT', KEYS[6], '(' .. now, '+inf')
local working_limit = queue_config(KEYS[7], {'working_limit'}, {ARGV[2]})
local ready = redis.call('LLEN', pending) + redis.call('ZCARD', KEYS[8]) + redis.call('ZCARD', KEYS[9])
return {ready, redis.call('ZCARD', delayed), redis.call('ZCARD', working),
        redis.call('ZCARD', failed), oldest_ready, oldest_lease, workers, working_limit}
