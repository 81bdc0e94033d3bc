-- replay: put dead letters back to pending with fresh attempts, oldest first.
-- KEYS[1] failed   ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks    HASH  id -> metadata JSON
-- KEYS[3] pending  LIST  ids ready to hand out
-- KEYS[4] marker   ZSET  wake-up flag for idle consumers
-- KEYS[5]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[6]  failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[7]  failed_poison_pill        ZSET    in DeadReason order
-- KEYS[8]  failed_undecodable        ZSET
-- KEYS[9]  failed_rejected           ZSET
-- KEYS[10] failed_cancelled          ZSET
-- ARGV[1] task_id  '' for the oldest dead letters, up to limit
-- ARGV[2] limit    at most this many per call
-- ARGV[3] reason   '' for any; else only the dead letters of this reason (from its index)
-- returns how many were replayed; an error reply ARQUE_BADREASON for an unknown reason
--@include now_ms
--@include ensure_types
--@include failed_indexes
--@include unindex_failed
--@include pick_failed
--@include wake
local failed, tasks, pending, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local err = ensure_types({failed, 'zset', tasks, 'hash', pending, 'list', marker, 'zset',
  KEYS[5], 'zset', KEYS[6], 'zset', KEYS[7], 'zset', KEYS[8], 'zset', KEYS[9], 'zset', KEYS[10], 'zset'})
if err then return err end
local indexes = failed_indexes(5)
local reason = ARGV[3]
if reason ~= '' and not indexes[reason] then return redis.error_reply('ARQUE_BADREASON ' .. reason) end

local now = now_ms()
local ids = pick_failed(failed, indexes, ARGV[1], reason, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local meta = cjson.decode(redis.call('HGET', tasks, id))
  meta['a'], meta['r'], meta['q'] = 0, 0, 0
  meta['why'], meta['f'] = nil, nil
  meta['rt'] = now  -- ready again from now on
  redis.call('HSET', tasks, id, cjson.encode(meta))
  redis.call('ZREM', failed, id)
  redis.call('LPUSH', pending, id)
end
unindex_failed(indexes, ids)
if #ids > 0 then wake(marker) end
return #ids
