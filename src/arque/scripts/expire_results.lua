-- expire_results: drop kept results whose time is up, oldest first, a bounded
-- chunk per call (the sweep calls it again while there is more).
-- KEYS[1] results      HASH  id -> the handler's return value, encoded
-- KEYS[2] results_due  ZSET  id -> when its result expires (ms)
-- ARGV[1] limit  at most this many per call
-- returns how many were dropped
--@include now_ms
--@include ensure_types
local results, results_due = KEYS[1], KEYS[2]
local err = ensure_types({results, 'hash', results_due, 'zset'})
if err then return err end

local ids = redis.call('ZRANGEBYSCORE', results_due, '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
if #ids > 0 then
  redis.call('HDEL', results, unpack(ids))
  redis.call('ZREM', results_due, unpack(ids))
end
return #ids
