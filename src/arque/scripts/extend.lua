-- extend: renew the leases of working tasks (the heartbeat of long tasks). A
-- task asked to stop (cancel) is not renewed: the reply tells its holder.
-- KEYS[1] working     ZSET  id -> lease deadline (ms)
-- KEYS[2] leases      HASH  id -> delivery token
-- KEYS[3] tasks       HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[4] cancelling  SET   working ids asked to stop
-- ARGV[1] lease_ms  the new lease, from now; 0: the task's own task_timeout
-- ARGV[n], ARGV[n+1]  task_id, token ('' acts on the current hand-out)
-- returns a list with, per task, the new deadline (ms), 0 if refused, or -1 if
-- the task is being cancelled (its handler should stop; the lease is not renewed)
--@include now_ms
--@include record
--@include ensure_types
--@include holds_lease
local working, leases, tasks, cancelling = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local err = ensure_types({working, 'zset', leases, 'hash', cancelling, 'set'})
if err then return err end

local now = now_ms()
local lease = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if not holds_lease(leases, id, token) then
    out[#out + 1] = 0
  elseif redis.call('SISMEMBER', cancelling, id) == 1 then
    out[#out + 1] = -1
  else
    local ms = lease
    if ms <= 0 then ms = cjson.decode(record_meta(redis.call('HGET', tasks, id)))['t'] end
    redis.call('ZADD', working, 'XX', now + ms, id)
    out[#out + 1] = now + ms
  end
end
return out
