-- expire_results: drop kept results whose time is up, oldest first, then those
-- beyond max_results (a lowered limit), a bounded chunk per call (the sweep
-- calls it again while there is more).
-- KEYS[1] results      HASH  id -> the handler's return value, encoded
-- KEYS[2] results_due  ZSET  id -> when its result expires (ms)
-- KEYS[3] config       HASH  the queue's stored settings; max_results overrides ARGV[2]
-- ARGV[1] limit        at most this many per call
-- ARGV[2] max_results  retention by count (0: unbounded), where the config has none
-- returns how many were dropped
--@include now_ms
--@include ensure_types
--@include queue_config
--@include trim_results
local results, results_due = KEYS[1], KEYS[2]
local err = ensure_types({results, 'hash', results_due, 'zset'})
if err then return err end

local limit = tonumber(ARGV[1])
local ids = redis.call('ZRANGEBYSCORE', results_due, '-inf', now_ms(), 'LIMIT', 0, limit)
if #ids > 0 then
  redis.call('HDEL', results, unpack(ids))
  redis.call('ZREM', results_due, unpack(ids))
end
local max_results = queue_config(KEYS[3], {'max_results'}, {ARGV[2]})
return #ids + trim_results(results, results_due, max_results, limit - #ids)
