-- release: acknowledge tasks as done; their keys are deleted. A hand-out whose
-- token is no longer current (a late holder) is refused and changes nothing.
-- KEYS[1] working   ZSET  id -> lease deadline (ms)
-- KEYS[2] leases    HASH  id -> delivery token
-- KEYS[3] tasks     HASH  id -> metadata JSON
-- KEYS[4] payloads  HASH  id -> payload
-- KEYS[5] pending   LIST  ids ready to hand out
-- KEYS[6] marker    ZSET  wake-up flag for idle consumers
-- ARGV[n], ARGV[n+1]  task_id, token ('' acts on the current hand-out)
-- returns a list with, per task, 1 if released, 0 if refused
--@include ensure_types
--@include holds_lease
--@include wake
local working, leases, tasks, payloads, pending, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local err = ensure_types({working, 'zset', leases, 'hash', tasks, 'hash', payloads, 'hash', marker, 'zset'})
if err then return err end

local out = {}
local freed = false
for i = 1, #ARGV, 2 do
  local id, token = ARGV[i], ARGV[i + 1]
  if holds_lease(leases, id, token) then
    redis.call('ZREM', working, id)
    redis.call('HDEL', leases, id)
    redis.call('HDEL', tasks, id)
    redis.call('HDEL', payloads, id)
    freed = true
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
-- A slot came free: a consumer held back by working_limit may take the next task.
if freed and redis.call('LLEN', pending) > 0 then wake(marker) end
return out
