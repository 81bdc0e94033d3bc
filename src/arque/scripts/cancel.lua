-- cancel: take a task off the queue on request. A pending or delayed task
-- goes to dead letters 'cancelled' at once; a working one is marked, so that
-- its holder's heartbeat learns it must stop (extend replies -1), its late
-- release or requeue is refused, and a sweep of its lease dead-letters it.
-- KEYS[1] pending   LIST  ids ready to hand out
-- KEYS[2] delayed   ZSET  id -> due time (ms)
-- KEYS[3] working   ZSET  id -> lease deadline (ms)
-- KEYS[4] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[5] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[6]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[7]  failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[8]  failed_poison_pill        ZSET    in DeadReason order
-- KEYS[9] failed_undecodable        ZSET
-- KEYS[10] failed_rejected           ZSET
-- KEYS[11] failed_cancelled          ZSET
-- KEYS[12] config                    HASH  the queue's stored settings; max_failed overrides ARGV[2]
-- KEYS[13] cancelling  SET     working ids asked to stop
-- KEYS[14] waiting     HASH    id -> 1: someone awaits its result
-- KEYS[15] finished    STREAM  ids of awaited tasks that finished
-- KEYS[16] prioritized    ZSET  ready ids without a group, priority != 0 (what runs next,
-- KEYS[17] grouped        ZSET    in keys.SCHED_ROLES order: see includes/sched_keys.lua
-- KEYS[18] groups         ZSET    and keys.py)
-- KEYS[19] group_waits    ZSET
-- KEYS[20] group_working  HASH
-- KEYS[21] seq            STRING
-- KEYS[22] starts         ZSET
-- KEYS[23] group_starts   ZSET
-- KEYS[24] group_windows  ZSET
-- ARGV[1] task_id
-- ARGV[2] max_failed  retention of dead letters by count (0: unbounded), where the config has none
-- returns 0 not cancelled (unknown, released, or a dead letter already),
-- 1 dead-lettered 'cancelled' (it was pending or delayed), 2 marked (working)
--@include now_ms
--@include record
--@include failed_indexes
--@include ensure_types
--@include unindex_failed
--@include drop_failed
--@include trim_failed
--@include life_keys
--@include finished
--@include dead_letter
--@include queue_config
--@include sched_keys
--@include group_head
--@include group_member
local pending, delayed, working, tasks = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local failed = KEYS[5]
local err = ensure_types({pending, 'list', delayed, 'zset', working, 'zset', tasks, 'hash',
  failed, 'zset', KEYS[6], 'zset', KEYS[7], 'zset', KEYS[8], 'zset',
  KEYS[9], 'zset', KEYS[10], 'zset', KEYS[11], 'zset', KEYS[13], 'set', KEYS[14], 'hash',
  KEYS[15], 'stream'})
if err then return err end
local S = sched_keys(16)
err = ensure_types({S.prioritized, 'zset', S.grouped, 'zset', S.groups, 'zset', S.group_waits, 'zset'})
if err then return err end
local indexes = failed_indexes(6)
local life = life_keys(13)

local id = ARGV[1]
local max_failed = queue_config(KEYS[12], {'max_failed'}, {ARGV[2]})
local raw = redis.call('HGET', tasks, id)
if not raw or redis.call('ZSCORE', failed, id) then return 0 end
if redis.call('ZSCORE', working, id) then
  redis.call('SADD', life.cancelling, id)
  return 2
end
local meta_json, payload = split_record(raw)
local meta = cjson.decode(meta_json)
local where
if redis.call('ZREM', delayed, id) == 1 then
  where = 'delayed'
else
  where = 'pending'
  -- A ready task is in the structure of its priority and group (make_ready).
  local priority, group = meta['p'] or 0, meta['g']
  if group ~= nil then
    -- Its group leaves the round-robin when this was its last ready task.
    redis.call('ZREM', S.grouped, group_member(group, priority, meta['s'] or 0, id))
    if not group_head(S.grouped, group) then
      redis.call('ZREM', S.groups, group)
      redis.call('ZREM', S.group_waits, group)
    end
  elseif priority ~= 0 then
    redis.call('ZREM', S.prioritized, id)
  else
    -- O(length of pending): a cancel is rare, and the list keeps hand-outs O(1).
    redis.call('LREM', pending, 1, id)
  end
end
local now = now_ms()
dead_letter(failed, indexes, tasks, id, meta, payload, 'cancelled',
  'cancelled while ' .. where, now, max_failed, life)
return 1
