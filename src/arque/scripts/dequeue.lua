-- dequeue: hand out up to max_tasks ready tasks, each under a lease with a
-- fresh delivery token; due delayed tasks are promoted first.
-- KEYS[1] pending   LIST  ids ready to hand out
-- KEYS[2] delayed   ZSET  id -> due time (ms)
-- KEYS[3] working   ZSET  id -> lease deadline (ms)
-- KEYS[4] leases    HASH  id -> delivery token
-- KEYS[5] tasks     HASH  id -> metadata JSON
-- KEYS[6] payloads  HASH  id -> payload
-- KEYS[7] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[8] marker    ZSET  wake-up flag for idle consumers
-- KEYS[9]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[10] failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[11] failed_poison_pill        ZSET    in DeadReason order
-- KEYS[12] failed_undecodable        ZSET
-- KEYS[13] failed_rejected           ZSET
-- KEYS[14] failed_cancelled          ZSET
-- KEYS[15] config                    HASH  the queue's stored settings; each overrides the ARGV of its name
-- KEYS[16] timer       STRING  due time (ms) the time-keeping consumer waits for
-- KEYS[17] cancelling  SET     working ids asked to stop
-- KEYS[18] waiting     HASH    id -> 1: someone awaits its result
-- KEYS[19] finished    STREAM  ids of awaited tasks that finished
-- ARGV[1] max_tasks      hand out at most this many
-- ARGV[2] working_limit  0: no limit; else at most this many working, all consumers together
-- ARGV[3] requeue_limit  a task is handed out at most this many times
-- ARGV[4] max_failed     retention of dead letters by count (0: unbounded)
--                        (ARGV[2..4]: the caller's, used where the config stores none)
-- returns {status, wait_us, keeper, ready, then 8 per task: id, token, payload, attempt,
--   deadline_ms, waited_ms, trace, lease_ms} (needs Redis >= 6.2: RPOP with a count)
--   status 0: nothing ready; 1: tasks handed out; 2: working_limit reached
--   wait_us: microseconds until the next delayed task is due (-1: none; with status 0,
--            0: this call dead-lettered its share of exhausted tasks, call again)
--   keeper: 1 if this caller is to raise the marker at that due time (see grant_timer)
--   ready: how many tasks are left ready (when 0, the next dequeue can wait for the marker)
--   waited_ms: from when the task became ready to this hand-out
--   trace: the W3C trace context of its enqueue, '' for none
--   lease_ms: the lease's length from now, by the Redis clock (deadline_ms is on it too)
--@include now_ms
--@include failed_indexes
--@include ensure_types
--@include wake
--@include unindex_failed
--@include drop_failed
--@include trim_failed
--@include life_keys
--@include finished
--@include dead_letter
--@include promote_due
--@include queue_config
--@include ready_since
--@include grant_timer
local pending, delayed, working, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tasks, payloads, failed, marker, timer = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[16]
local err = ensure_types({pending, 'list', delayed, 'zset', working, 'zset', leases, 'hash',
  tasks, 'hash', payloads, 'hash', failed, 'zset', marker, 'zset',
  KEYS[9], 'zset', KEYS[10], 'zset', KEYS[11], 'zset', KEYS[12], 'zset', KEYS[13], 'zset', KEYS[14], 'zset',
  timer, 'string', KEYS[17], 'set', KEYS[18], 'hash', KEYS[19], 'stream'})
if err then return err end
local indexes = failed_indexes(9)
local life = life_keys(17)

local max_tasks = tonumber(ARGV[1])
local working_limit, requeue_limit, max_failed = queue_config(KEYS[15],
  {'working_limit', 'requeue_limit', 'max_failed'}, {ARGV[2], ARGV[3], ARGV[4]})
local now, time = now_ms()

promote_due(delayed, pending, now, math.max(max_tasks, 100))

if working_limit > 0 then
  local free = working_limit - redis.call('ZCARD', working)
  if free <= 0 then
    local wait, keeper = grant_timer(delayed, timer, time)
    return {2, wait, keeper, redis.call('LLEN', pending)}
  end
  if free < max_tasks then max_tasks = free end
end

local out = {1, -1, 0, 0}
local stamp = time[1] .. string.format('%06d', tonumber(time[2]))
-- Ids come off pending in chunks (RPOP with a count, Redis >= 6.2), and each
-- chunk is read and written with one command per key.
-- Exhausted or broken tasks found on the way are dead-lettered, at most
-- DEAD_BUDGET per call, so a backlog of them is cleared over several calls.
local DEAD_BUDGET = 100
local left, dead = max_tasks, 0
while left > 0 and dead < DEAD_BUDGET do
  local asked = math.min(left, 500, DEAD_BUDGET - dead)
  local ids = redis.call('RPOP', pending, asked)
  if not ids then break end
  local raws = redis.call('HMGET', tasks, unpack(ids))
  local bodies = redis.call('HMGET', payloads, unpack(ids))
  local metas, leased, deadlines = {}, {}, {}
  for j, id in ipairs(ids) do
    local raw = raws[j]
    local meta
    if raw then meta = cjson.decode(raw) else meta = {t = 0, a = 0, r = 0, q = 0, e = now} end
    if not raw then
      dead_letter(failed, indexes, tasks, payloads, id, meta, 'undecodable', 'task metadata missing', now, max_failed, life)
      dead = dead + 1
    elseif meta['a'] >= requeue_limit then
      dead_letter(failed, indexes, tasks, payloads, id, meta, 'retries_exhausted', nil, now, max_failed, life)
      dead = dead + 1
    else
      meta['a'] = meta['a'] + 1
      meta['d'] = now
      local token = meta['a'] .. '-' .. stamp
      local deadline = now + meta['t']
      metas[#metas + 1] = id
      metas[#metas + 1] = cjson.encode(meta)
      leased[#leased + 1] = id
      leased[#leased + 1] = token
      deadlines[#deadlines + 1] = deadline
      deadlines[#deadlines + 1] = id
      out[#out + 1] = id
      out[#out + 1] = token
      out[#out + 1] = bodies[j]
      out[#out + 1] = meta['a']
      out[#out + 1] = deadline
      out[#out + 1] = math.max(now - ready_since(meta), 0)
      out[#out + 1] = meta['tc'] or ''
      out[#out + 1] = meta['t']
      left = left - 1
    end
  end
  if #metas > 0 then
    redis.call('HSET', tasks, unpack(metas))
    redis.call('HSET', leases, unpack(leased))
    redis.call('ZADD', working, unpack(deadlines))
  end
  if #ids < asked then break end
end

if #out == 4 and dead >= DEAD_BUDGET and redis.call('LLEN', pending) > 0 then
  -- Out of budget with more to look at: the caller (or another consumer) goes on.
  wake(marker)
  return {0, 0, 0, redis.call('LLEN', pending)}
end
-- The next due time goes with every reply: a consumer that took a task can
-- keep the time as well as an idle one (the timer is its process's, not its own).
out[2], out[3] = grant_timer(delayed, timer, time)
if #out == 4 then
  -- Nothing is ready: no consumer needs waking, and a drained queue keeps no key.
  redis.call('DEL', marker)
  out[1] = 0
  return out
end
-- Others are still ready: pass the wake-up on to the next idle consumer.
out[4] = redis.call('LLEN', pending)
if out[4] > 0 then
  if working_limit == 0 or redis.call('ZCARD', working) < working_limit then wake(marker) end
else
  redis.call('DEL', marker)
end
return out
