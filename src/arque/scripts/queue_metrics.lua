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
-- ARGV[1] scan      how many working tasks (soonest deadlines first) to look at for the oldest lease
-- ARGV[2] working_limit  the caller's, used when the config stores none
-- returns {pending (all ready tasks), delayed, working, failed, oldest_ready_age_ms (of the plain
--          list and delayed tasks), oldest_lease_age_ms, workers,
--          working_limit} (an age is -1 when there is no such task; due delayed tasks not yet
--          promoted count as ready)
--@include now_ms
--@include record
--@include ready_since
--@include queue_config
local pending, delayed, working, failed, tasks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local now = now_ms()

local function age_of(meta_raw, field)
  if not meta_raw then return -1 end
  local meta = cjson.decode(record_meta(meta_raw))
  local since = meta[field]
  if field == 'ready' then since = ready_since(meta) end
  if not since then return -1 end
  return math.max(now - tonumber(since), 0)
end

-- Pending is a line: LPUSH in, RPOP out; its tail is the one waiting longest.
-- A delayed task already due has been ready since its due time.
local oldest_ready = -1
local tail = redis.call('LINDEX', pending, -1)
if tail then oldest_ready = age_of(redis.call('HGET', tasks, tail), 'ready') end
local due = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
if due[2] and tonumber(due[2]) <= now then
  oldest_ready = math.max(oldest_ready, now - tonumber(due[2]))
end

-- Leases are renewed, so the soonest deadline is not always the oldest hand-out:
-- look at up to `scan` of them.
local oldest_lease = -1
local held = redis.call('ZRANGE', working, 0, tonumber(ARGV[1]) - 1)
if #held > 0 then
  local metas = redis.call('HMGET', tasks, unpack(held))
  for _, raw in ipairs(metas) do
    oldest_lease = math.max(oldest_lease, age_of(raw, 'd'))
  end
end

local workers = redis.call('ZCOUNT', KEYS[6], '(' .. now, '+inf')
local working_limit = queue_config(KEYS[7], {'working_limit'}, {ARGV[2]})
local ready = redis.call('LLEN', pending) + redis.call('ZCARD', KEYS[8]) + redis.call('ZCARD', KEYS[9])
return {ready, redis.call('ZCARD', delayed), redis.call('ZCARD', working),
        redis.call('ZCARD', failed), oldest_ready, oldest_lease, workers, working_limit}
