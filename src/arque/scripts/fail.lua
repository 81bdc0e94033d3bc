-- fail: dead-letter a working task at once (a permanent failure, or a payload
-- that could not be decoded), whatever attempts it has left.
-- KEYS[1] working   ZSET  id -> lease deadline (ms)
-- KEYS[2] leases    HASH  id -> delivery token
-- KEYS[3] tasks     HASH  id -> metadata JSON
-- KEYS[4] payloads  HASH  id -> payload
-- KEYS[5] failed    ZSET  id -> dead-letter time (ms)
-- ARGV[1] task_id
-- ARGV[2] token       '' acts on the current hand-out
-- ARGV[3] reason      why it failed ('rejected', 'undecodable', ...)
-- ARGV[4] error       the failure, kept as the task's last error
-- ARGV[5] max_failed  retention of dead letters by count (0: unbounded)
-- returns 1 dead-lettered, 0 refused (stale token, not working, unknown)
--@include now_ms
--@include ensure_types
--@include holds_lease
--@include dead_letter
local working, leases, tasks, payloads, failed = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local err = ensure_types({working, 'zset', leases, 'hash', tasks, 'hash', payloads, 'hash', failed, 'zset'})
if err then return err end

local id, token = ARGV[1], ARGV[2]
if not holds_lease(leases, id, token) then return 0 end
local now = now_ms()
local meta = cjson.decode(redis.call('HGET', tasks, id))
redis.call('ZREM', working, id)
redis.call('HDEL', leases, id)
dead_letter(failed, tasks, payloads, id, meta, ARGV[3], ARGV[4], now, tonumber(ARGV[5]))
return 1
