-- release: acknowledge tasks as done; their keys are deleted, and the result
-- each handler returned is kept for result_ttl when results are on. A
-- hand-out whose token is no longer current (a late holder) is refused and
-- changes nothing; a task being cancelled is refused and dead-lettered
-- 'cancelled' (its result is not kept).
-- KEYS[1] working   ZSET  id -> lease deadline (ms)
-- KEYS[2] leases    HASH  id -> delivery token
-- KEYS[3] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[4] pending   LIST  ids ready to hand out
-- KEYS[5] marker    ZSET  wake-up flag for idle consumers
-- KEYS[6] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[7]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[8]  failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[9] failed_poison_pill        ZSET    in DeadReason order
-- KEYS[10] failed_undecodable        ZSET
-- KEYS[11] failed_rejected           ZSET
-- KEYS[12] failed_cancelled          ZSET
-- KEYS[13] config                    HASH  the queue's stored settings; each overrides the ARGV of its name
-- KEYS[14] cancelling  SET     working ids asked to stop
-- KEYS[15] waiting     HASH    id -> 1: someone awaits its result
-- KEYS[16] finished    STREAM  ids of awaited tasks that finished
-- KEYS[17] results      HASH  id -> the handler's return value, encoded
-- KEYS[18] results_due  ZSET  id -> when its result expires (ms)
-- KEYS[19] prioritized    ZSET  ready ids without a group, priority != 0 (what runs next,
-- KEYS[20] grouped        ZSET    in keys.SCHED_ROLES order: see includes/sched_keys.lua
-- KEYS[21] groups         ZSET    and keys.py)
-- KEYS[22] group_waits    ZSET
-- KEYS[23] group_working  HASH
-- KEYS[24] seq            STRING
-- KEYS[25] starts         ZSET
-- KEYS[26] group_starts   ZSET
-- KEYS[27] group_windows  ZSET
-- ARGV[1] result_ttl     ms a result is kept (0: results off, nothing kept)
-- ARGV[2] max_failed     retention of dead letters by count (0: unbounded)
-- ARGV[3] max_results    retention of results by count (0: unbounded); beyond it the
--                        results nearest their expiry go, two per result kept
--                        (ARGV[1..3]: the caller's, used where the config stores none)
-- ARGV[n], ARGV[n+1], ARGV[n+2]  (from ARGV[4]) task_id, token ('' acts on the current hand-out),
--                        result (the encoded return value; '': none given, nothing kept)
-- returns a list with, per task, 1 if released, 0 if refused; a call that runs out of
--   its time (includes/budget.lua) answers for the first tasks only, and the caller
--   sends the others again
--@include now_ms
--@include record
--@include handed_out
--@include failed_indexes
--@include ensure_types
--@include holds_lease
--@include wake
--@include unindex_failed
--@include drop_failed
--@include trim_failed
--@include life_keys
--@include finished
--@include dead_letter
--@include queue_config
--@include trim_results
--@include sched_keys
--@include group_head
--@include add_turn
--@include free_group_slots
--@include meta_group
--@include any_ready
--@include budget
local working, leases, tasks = KEYS[1], KEYS[2], KEYS[3]
local pending, marker, failed = KEYS[4], KEYS[5], KEYS[6]
local results, results_due = KEYS[17], KEYS[18]
local S = sched_keys(19)
local started = clock_us()
-- The keys that usually exist first, dead letters and a task's life last (ensure_types).
local err = ensure_types({working, 'zset', leases, 'hash', tasks, 'hash', marker, 'zset',
  S.prioritized, 'zset', S.grouped, 'zset', S.groups, 'zset', S.group_waits, 'zset',
  S.group_working, 'hash', S.seq, 'string', results, 'hash', results_due, 'zset',
  failed, 'zset', KEYS[7], 'zset', KEYS[8], 'zset', KEYS[9], 'zset',
  KEYS[10], 'zset', KEYS[11], 'zset', KEYS[12], 'zset', KEYS[14], 'set', KEYS[15], 'hash',
  KEYS[16], 'stream'})
if err then return err end
local indexes = failed_indexes(7)
local life = life_keys(14)

local result_ttl, max_failed, max_results = queue_config(KEYS[13],
  {'result_ttl', 'max_failed', 'max_results'}, {ARGV[1], ARGV[2], ARGV[3]})
local now = nil
local out = {}
local freed, group_names, groups_freed = false, {}, {}
-- Only a queue with groups working reads the metadata of what it releases; a
-- cancelled task's lease ends here too, so its group's slot comes back with the rest.
local grouped = redis.call('EXISTS', S.group_working) == 1
local raws = {}
if grouped then
  local ids = {}
  for i = 4, #ARGV, 3 do ids[#ids + 1] = ARGV[i] end
  if #ids > 0 then raws = redis.call('HMGET', tasks, unpack(ids)) end
end
-- The clock is read every 8 tasks.
for i = 4, #ARGV, 3 do
  if i > 4 and (i - 4) % 24 == 0 and clock_us() - started >= BUDGET_US then break end
  local id, token, result = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if not holds_lease(leases, id, token) then
    out[#out + 1] = 0
  else
    local cancelled = redis.call('SISMEMBER', life.cancelling, id) == 1
    local current = cancelled and redis.call('HGET', leases, id)
    redis.call('ZREM', working, id)
    redis.call('HDEL', leases, id)
    if grouped then
      local raw = raws[(i - 1) / 3]
      local group = raw and meta_group(record_meta(raw))
      if group then
        if not groups_freed[group] then group_names[#group_names + 1] = group end
        groups_freed[group] = (groups_freed[group] or 0) + 1
      end
    end
    freed = true
    if cancelled then
      now = now or now_ms()
      local meta_json, payload = split_record(redis.call('HGET', tasks, id))
      dead_letter(failed, indexes, tasks, id, handed_out(cjson.decode(meta_json), current), payload, 'cancelled', 'cancelled while working', now, max_failed, life)
      out[#out + 1] = 0
    else
      redis.call('HDEL', tasks, id)
      if result_ttl > 0 and result ~= '' then
        now = now or now_ms()
        redis.call('HSET', results, id, result)
        redis.call('ZADD', results_due, now + result_ttl, id)
        trim_results(results, results_due, max_results, 2)
      end
      finished(life, id)
      out[#out + 1] = 1
    end
  end
end
free_group_slots(S, group_names, groups_freed)
-- A slot came free: a consumer held back by working_limit may take the next task.
if freed and any_ready(pending, S) then wake(marker) end
return out
