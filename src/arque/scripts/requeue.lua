-- requeue: give a working task back after a handled failure, at once or after
-- a delay; after its last allowed attempt it goes to dead letters instead.
-- KEYS[1] pending   LIST  ids ready to hand out
-- KEYS[2] delayed   ZSET  id -> due time (ms)
-- KEYS[3] working   ZSET  id -> lease deadline (ms)
-- KEYS[4] leases    HASH  id -> delivery token
-- KEYS[5] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[6] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[7] marker    ZSET  wake-up flag for idle consumers
-- KEYS[8]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[9] failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[10] failed_poison_pill        ZSET    in DeadReason order
-- KEYS[11] failed_undecodable        ZSET
-- KEYS[12] failed_rejected           ZSET
-- KEYS[13] failed_cancelled          ZSET
-- KEYS[14] config                    HASH  the queue's stored settings; each overrides the ARGV of its name
-- KEYS[15] cancelling  SET     working ids asked to stop
-- KEYS[16] waiting     HASH    id -> 1: someone awaits its result
-- KEYS[17] finished    STREAM  ids of awaited tasks that finished
-- KEYS[18] prioritized    ZSET  ready ids without a group, priority != 0 (what runs next,
-- KEYS[19] grouped        ZSET    in keys.SCHED_ROLES order: see includes/sched_keys.lua
-- KEYS[20] groups         ZSET    and keys.py)
-- KEYS[21] group_waits    ZSET
-- KEYS[22] group_working  HASH
-- KEYS[23] seq            STRING
-- KEYS[24] starts         ZSET
-- KEYS[25] group_starts   ZSET
-- KEYS[26] group_windows  ZSET
-- ARGV[1] task_id
-- ARGV[2] token          '' acts on the current hand-out
-- ARGV[3] delay_ms       0: pending at once
-- ARGV[4] error          the failure, kept as the task's last error
-- ARGV[5] requeue_limit  a task is handed out at most this many times
-- ARGV[6] max_failed     retention of dead letters by count (0: unbounded)
--                        (ARGV[5..6]: the caller's, used where the config stores none)
-- ARGV[7] count_attempt  1: a handled failure; 0: handed back unused (shutdown), the attempt is returned
-- returns 0 refused (stale token, not working, unknown; or being cancelled: then it
-- is dead-lettered 'cancelled'), 1 requeued, 2 dead-lettered
--@include now_ms
--@include record
--@include handed_out
--@include failed_indexes
--@include ensure_types
--@include holds_lease
--@include wake
--@include sched_keys
--@include group_head
--@include add_turn
--@include group_member
--@include make_ready
--@include free_group_slots
--@include free_group_slot
--@include any_ready
--@include unindex_failed
--@include drop_failed
--@include trim_failed
--@include life_keys
--@include finished
--@include dead_letter
--@include queue_config
local pending, delayed, working, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tasks, failed, marker = KEYS[5], KEYS[6], KEYS[7]
local S = sched_keys(18)
-- The keys that usually exist first, dead letters and a task's life last (ensure_types).
local err = ensure_types({pending, 'list', working, 'zset', leases, 'hash', tasks, 'hash',
  marker, 'zset', delayed, 'zset',
  S.prioritized, 'zset', S.grouped, 'zset', S.groups, 'zset', S.group_waits, 'zset',
  S.group_working, 'hash', S.seq, 'string', failed, 'zset',
  KEYS[8], 'zset', KEYS[9], 'zset', KEYS[10], 'zset', KEYS[11], 'zset', KEYS[12], 'zset', KEYS[13], 'zset',
  KEYS[15], 'set', KEYS[16], 'hash', KEYS[17], 'stream'})
if err then return err end
local indexes = failed_indexes(8)
local life = life_keys(15)

local id, token, delay, last_error = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local count_attempt = ARGV[7] == '1'
local requeue_limit, max_failed = queue_config(KEYS[14], {'requeue_limit', 'max_failed'}, {ARGV[5], ARGV[6]})
if not holds_lease(leases, id, token) then return 0 end

local now = now_ms()
local raw = redis.call('HGET', tasks, id)
local meta_json, payload = split_record(raw)
local meta = handed_out(cjson.decode(meta_json), redis.call('HGET', leases, id))
redis.call('ZREM', working, id)
redis.call('HDEL', leases, id)
local came_back = free_group_slot(S, meta)
if redis.call('SISMEMBER', life.cancelling, id) == 1 then
  dead_letter(failed, indexes, tasks, id, meta, payload, 'cancelled', 'cancelled while working', now, max_failed, life)
  -- A slot came free: a consumer held back by working_limit (or its group's) may take the next task.
  if came_back or any_ready(pending, S) then wake(marker) end
  return 0
end
if count_attempt then
  meta['q'] = (meta['q'] or 0) + 1
  meta['rt'] = now
  if last_error ~= '' then meta['err'] = last_error end
  if (meta['a'] or 0) >= requeue_limit then
    dead_letter(failed, indexes, tasks, id, meta, payload, 'retries_exhausted', nil, now, max_failed, life)
    -- A slot came free: a consumer held back by working_limit (or its group's) may take the next task.
    if came_back or any_ready(pending, S) then wake(marker) end
    return 2
  end
elseif (meta['a'] or 0) > 1 then
  meta['a'] = meta['a'] - 1
else
  meta['a'] = nil  -- a counter at 0 is left out
end
if delay > 0 then
  meta['dp'] = (meta['dp'] or 0) + 1
  meta['dt'] = now + delay
  redis.call('ZADD', delayed, now + delay, id)
  -- Wake one consumer: for a freed slot when others are ready, or to time the new earliest.
  if came_back or any_ready(pending, S) or redis.call('ZRANGE', delayed, 0, 0)[1] == id then
    wake(marker)
  end
else
  make_ready(pending, S, id, meta, false)
  wake(marker)
end
redis.call('HSET', tasks, id, join_record(cjson.encode(meta), payload))
return 1
