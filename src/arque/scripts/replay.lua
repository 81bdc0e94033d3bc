-- replay: put dead letters back to pending with fresh attempts, oldest first.
-- KEYS[1] failed   ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks    HASH  id -> metadata JSON
-- KEYS[3] pending  LIST  ids ready to hand out
-- KEYS[4] marker   ZSET  wake-up flag for idle consumers
-- ARGV[1] task_id  '' for the oldest dead letters, up to limit
-- ARGV[2] limit    at most this many per call
-- returns how many were replayed
--@include ensure_types
--@include pick_failed
--@include wake
local failed, tasks, pending, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local err = ensure_types({failed, 'zset', tasks, 'hash', pending, 'list', marker, 'zset'})
if err then return err end

local ids = pick_failed(failed, ARGV[1], tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local meta = cjson.decode(redis.call('HGET', tasks, id))
  meta['a'], meta['r'], meta['q'] = 0, 0, 0
  meta['why'], meta['f'] = nil, nil
  redis.call('HSET', tasks, id, cjson.encode(meta))
  redis.call('ZREM', failed, id)
  redis.call('LPUSH', pending, id)
end
if #ids > 0 then wake(marker) end
return #ids
