-- fail: dead-letter a working task at once (a permanent failure, or a payload
-- that could not be decoded), whatever attempts it has left.
-- KEYS[1] working   ZSET  id -> lease deadline (ms)
-- KEYS[2] leases    HASH  id -> delivery token
-- KEYS[3] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[4] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[5]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[6]  failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[7]  failed_poison_pill        ZSET    in DeadReason order
-- KEYS[8]  failed_undecodable        ZSET
-- KEYS[9] failed_rejected           ZSET
-- KEYS[10] failed_cancelled          ZSET
-- KEYS[11] config                    HASH  the queue's stored settings; max_failed overrides ARGV[5]
-- KEYS[12] pending     LIST    ids ready to hand out
-- KEYS[13] marker      ZSET    wake-up flag for idle consumers
-- KEYS[14] cancelling  SET     working ids asked to stop
-- KEYS[15] waiting     HASH    id -> 1: someone awaits its result
-- KEYS[16] finished    STREAM  ids of awaited tasks that finished
-- KEYS[17] prioritized    ZSET  ready ids without a group, priority != 0 (what runs next,
-- KEYS[18] grouped        ZSET    in keys.SCHED_ROLES order: see includes/sched_keys.lua
-- KEYS[19] groups         ZSET    and keys.py)
-- KEYS[20] group_waits    ZSET
-- KEYS[21] group_working  HASH
-- KEYS[22] seq            STRING
-- KEYS[23] starts         ZSET
-- KEYS[24] group_starts   ZSET
-- KEYS[25] group_windows  ZSET
-- ARGV[1] task_id
-- ARGV[2] token       '' acts on the current hand-out
-- ARGV[3] reason      why it failed: a DeadReason value ('rejected', 'undecodable', ...)
-- ARGV[4] error       the failure, kept as the task's last error
-- ARGV[5] max_failed  retention of dead letters by count (0: unbounded), where the config has none
-- returns 1 dead-lettered (as 'cancelled' if it was being cancelled), 0 refused
-- (stale token, not working, unknown);
-- an error reply ARQUE_BADREASON, and nothing written, for another reason
--@include now_ms
--@include record
--@include handed_out
--@include failed_indexes
--@include ensure_types
--@include holds_lease
--@include unindex_failed
--@include drop_failed
--@include trim_failed
--@include life_keys
--@include finished
--@include dead_letter
--@include queue_config
--@include wake
--@include sched_keys
--@include group_head
--@include add_turn
--@include free_group_slots
--@include free_group_slot
--@include any_ready
local working, leases, tasks, failed = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local pending, marker = KEYS[12], KEYS[13]
local S = sched_keys(17)
-- The keys that usually exist first, dead letters and a task's life last (ensure_types).
local err = ensure_types({working, 'zset', leases, 'hash', tasks, 'hash', marker, 'zset',
  S.prioritized, 'zset', S.grouped, 'zset', S.groups, 'zset', S.group_waits, 'zset',
  S.group_working, 'hash', S.seq, 'string', failed, 'zset',
  KEYS[5], 'zset', KEYS[6], 'zset', KEYS[7], 'zset', KEYS[8], 'zset', KEYS[9], 'zset', KEYS[10], 'zset',
  KEYS[14], 'set', KEYS[15], 'hash', KEYS[16], 'stream'})
if err then return err end
local indexes = failed_indexes(5)
local life = life_keys(14)
if not indexes[ARGV[3]] then return redis.error_reply('ARQUE_BADREASON ' .. ARGV[3]) end

local id, token = ARGV[1], ARGV[2]
if not holds_lease(leases, id, token) then return 0 end
-- Read before the first write: a config of the wrong type fails the call with nothing written.
local max_failed = queue_config(KEYS[11], {'max_failed'}, {ARGV[5]})
local now = now_ms()
local meta_json, payload = split_record(redis.call('HGET', tasks, id))
local meta = handed_out(cjson.decode(meta_json), redis.call('HGET', leases, id))
redis.call('ZREM', working, id)
redis.call('HDEL', leases, id)
local came_back = free_group_slot(S, meta)
local reason = ARGV[3]
if redis.call('SISMEMBER', life.cancelling, id) == 1 then reason = 'cancelled' end
dead_letter(failed, indexes, tasks, id, meta, payload, reason, ARGV[4], now, max_failed, life)
-- A slot came free: a consumer held back by working_limit (or its group's) may take the next task.
if came_back or any_ready(pending, S) then wake(marker) end
return 1
