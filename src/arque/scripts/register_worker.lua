-- register_worker: announce a live worker (or withdraw it), and forget the
-- workers whose registration expired (they died without withdrawing).
-- KEYS[1] workers       ZSET  worker name -> registration expiry (ms)
-- KEYS[2] workers_info  HASH  worker name -> worker description (JSON)
-- ARGV[1] name     the worker's name
-- ARGV[2] ttl_ms   the registration expires this long from now (0: withdraw it)
-- ARGV[3] info     the worker's description (JSON, written as given)
-- returns the number of live workers after the call
--@include now_ms
--@include ensure_types
local workers, info = KEYS[1], KEYS[2]
local err = ensure_types({workers, 'zset', info, 'hash'})
if err then return err end

local now = now_ms()
local name, ttl = ARGV[1], tonumber(ARGV[2])
-- Bounded work per call: a beat every few seconds catches up with any backlog.
local expired = redis.call('ZRANGEBYSCORE', workers, '-inf', now, 'LIMIT', 0, 100)
if #expired > 0 then
  redis.call('ZREM', workers, unpack(expired))
  redis.call('HDEL', info, unpack(expired))
end
if ttl > 0 then
  redis.call('ZADD', workers, now + ttl, name)
  redis.call('HSET', info, name, ARGV[3])
  -- A queue whose workers all died leaves no keys behind for long.
  redis.call('PEXPIRE', workers, ttl * 4)
  redis.call('PEXPIRE', info, ttl * 4)
else
  redis.call('ZREM', workers, name)
  redis.call('HDEL', info, name)
end
return redis.call('ZCARD', workers)
