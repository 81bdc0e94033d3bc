-- purge: delete dead letters for good, oldest first.
-- KEYS[1] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks     HASH  id -> metadata JSON
-- KEYS[3] payloads  HASH  id -> payload
-- ARGV[1] task_id   '' for the oldest dead letters, up to limit
-- ARGV[2] limit     at most this many per call
-- returns how many were deleted
--@include ensure_types
--@include pick_failed
local failed, tasks, payloads = KEYS[1], KEYS[2], KEYS[3]
local err = ensure_types({failed, 'zset', tasks, 'hash', payloads, 'hash'})
if err then return err end

local ids = pick_failed(failed, ARGV[1], tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZREM', failed, id)
  redis.call('HDEL', tasks, id)
  redis.call('HDEL', payloads, id)
end
return #ids
