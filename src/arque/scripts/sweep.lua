-- sweep: the safety net. Recover working tasks whose lease has expired (their
-- holder crashed or overran), promote due delayed tasks, and drop dead letters
-- past their age or beyond max_failed. Each call does a bounded amount of work.
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
-- ARGV[1] requeue_limit   a task is handed out at most this many times
-- ARGV[2] recovery_limit  a task whose lease expired this many times is a poison pill
--                         (0: the same as requeue_limit)
-- ARGV[3] max_failed      retention of dead letters by count (0: unbounded)
-- ARGV[4] failed_ttl_ms   retention of dead letters by age (0: unbounded)
--                         (ARGV[1..4]: the caller's, used where the config stores none)
-- ARGV[5] limit           at most this many tasks of each kind per call
-- returns {recovered, promoted, dead_lettered, dropped_dead_letters (by age, then by count)}
--@include now_ms
--@include record
--@include handed_out
--@include failed_indexes
--@include ensure_types
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
--@include promote_due
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

local requeue_limit, recovery_limit, max_failed, failed_ttl = queue_config(KEYS[14],
  {'requeue_limit', 'recovery_limit', 'max_failed', 'failed_ttl'}, {ARGV[1], ARGV[2], ARGV[3], ARGV[4]})
if recovery_limit <= 0 then recovery_limit = requeue_limit end
local limit = tonumber(ARGV[5])
local now = now_ms()

local recovered, dead = 0, 0
local freed_group = false
local expired = redis.call('ZRANGEBYSCORE', working, '-inf', now, 'LIMIT', 0, limit)
for _, id in ipairs(expired) do
  redis.call('ZREM', working, id)
  local token = redis.call('HGET', leases, id)
  redis.call('HDEL', leases, id)
  local raw = redis.call('HGET', tasks, id)
  local meta, payload = {t = 0, e = now}, ''
  if raw then
    local meta_json
    meta_json, payload = split_record(raw)
    meta = cjson.decode(meta_json)
  end
  meta = handed_out(meta, token)
  if free_group_slot(S, meta) then freed_group = true end
  meta['r'] = (meta['r'] or 0) + 1
  meta['rt'] = now
  meta['err'] = 'lease expired: the holder crashed or overran its task_timeout'
  if not raw then
    dead_letter(failed, indexes, tasks, id, meta, payload, 'undecodable', 'task metadata missing', now, max_failed, life)
    dead = dead + 1
  elseif redis.call('SISMEMBER', life.cancelling, id) == 1 then
    -- Its holder died after a cancel: the cancel is carried out, not a recovery.
    dead_letter(failed, indexes, tasks, id, meta, payload, 'cancelled', 'cancelled while working', now, max_failed, life)
    dead = dead + 1
  elseif meta['r'] >= recovery_limit then
    dead_letter(failed, indexes, tasks, id, meta, payload, 'poison_pill', nil, now, max_failed, life)
    dead = dead + 1
  elseif (meta['a'] or 0) >= requeue_limit then
    dead_letter(failed, indexes, tasks, id, meta, payload, 'lease_expired', nil, now, max_failed, life)
    dead = dead + 1
  else
    -- Recovered tasks go to the head of the line (of their priority): they have waited already.
    make_ready(pending, S, id, meta, true)
    redis.call('HSET', tasks, id, join_record(cjson.encode(meta), payload))
    recovered = recovered + 1
  end
end

local promoted = promote_due(delayed, pending, S, tasks, now, limit)

local trimmed = 0
if failed_ttl > 0 then
  local old = redis.call('ZRANGEBYSCORE', failed, '-inf', now - failed_ttl, 'LIMIT', 0, limit)
  trimmed = drop_failed(failed, tasks, indexes, old)
end
-- A max_failed lowered since the last dead letter leaves a backlog: a chunk per call.
trimmed = trimmed + trim_failed(failed, tasks, indexes, max_failed, limit - trimmed)

-- Tasks became ready, or expired leases freed slots (even those dead-lettered):
-- a consumer held back by working_limit (or its group's) may take the next task.
if recovered + promoted > 0 or freed_group or (#expired > 0 and any_ready(pending, S)) then
  wake(marker)
end
return {recovered, promoted, dead, trimmed}
