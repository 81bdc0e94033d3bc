-- replay: put dead letters back to pending with fresh attempts, oldest first.
-- KEYS[1] failed   ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks    HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[3] pending  LIST  ids ready to hand out
-- KEYS[4] marker   ZSET  wake-up flag for idle consumers
-- KEYS[5]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[6]  failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[7]  failed_poison_pill        ZSET    in DeadReason order
-- KEYS[8]  failed_undecodable        ZSET
-- KEYS[9]  failed_rejected           ZSET
-- KEYS[10] failed_cancelled          ZSET
-- KEYS[11] prioritized    ZSET  ready ids without a group, priority != 0 (what runs next,
-- KEYS[12] grouped        ZSET    in keys.SCHED_ROLES order: see includes/sched_keys.lua
-- KEYS[13] groups         ZSET    and keys.py)
-- KEYS[14] group_waits    ZSET
-- KEYS[15] group_working  HASH
-- KEYS[16] seq            STRING
-- KEYS[17] starts         ZSET
-- KEYS[18] group_starts   ZSET
-- KEYS[19] group_windows  ZSET
-- ARGV[1] task_id  '' for the oldest dead letters, up to limit
-- ARGV[2] limit    at most this many per call
-- ARGV[3] reason   '' for any; else only the dead letters of this reason (from its index)
-- returns how many were replayed; an error reply ARQUE_BADREASON for an unknown reason
--@include now_ms
--@include record
--@include ensure_types
--@include failed_indexes
--@include unindex_failed
--@include pick_failed
--@include wake
--@include sched_keys
--@include group_head
--@include add_turn
--@include group_member
--@include make_ready
--@include free_group_slot
local failed, tasks, pending, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local S = sched_keys(11)
local err = ensure_types({failed, 'zset', tasks, 'hash', pending, 'list', marker, 'zset',
  KEYS[5], 'zset', KEYS[6], 'zset', KEYS[7], 'zset', KEYS[8], 'zset', KEYS[9], 'zset', KEYS[10], 'zset',
  S.prioritized, 'zset', S.grouped, 'zset', S.groups, 'zset', S.group_waits, 'zset',
  S.group_working, 'hash', S.seq, 'string'})
if err then return err end
local indexes = failed_indexes(5)
local reason = ARGV[3]
if reason ~= '' and not indexes[reason] then return redis.error_reply('ARQUE_BADREASON ' .. reason) end

local now = now_ms()
local ids = pick_failed(failed, indexes, ARGV[1], reason, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', tasks, id)
  local meta = cjson.decode(record_meta(raw))
  -- The counters start again: left out while 0.
  meta['a'], meta['r'], meta['q'] = nil, nil, nil
  meta['why'], meta['f'] = nil, nil
  meta['rt'] = now  -- ready again from now on
  -- It comes back with its priority and group.
  make_ready(pending, S, id, meta, false)
  redis.call('HSET', tasks, id, remeta(raw, cjson.encode(meta)))
  redis.call('ZREM', failed, id)
end
unindex_failed(indexes, ids)
if #ids > 0 then wake(marker) end
return #ids
