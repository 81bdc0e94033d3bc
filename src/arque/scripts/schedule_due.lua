-- schedule_due: the schedules whose next run has come, and how long until the
-- next one otherwise, in one atomic read (the worker then fires each with
-- schedule_fire).
-- KEYS[1] schedules      HASH  name -> schedule definition (JSON)
-- KEYS[2] schedules_due  ZSET  name -> next run (ms)
-- ARGV[1] limit  at most this many schedules
-- returns {now_ms, wait_ms, name, definition, name, definition, ...}: wait_ms is 0
-- when some are due, else until the earliest next run (-1: no schedule)
--@include now_ms
local schedules, due = KEYS[1], KEYS[2]
local now = now_ms()
local names = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {now, 0}
if #names == 0 then
  local head = redis.call('ZRANGE', due, 0, 0, 'WITHSCORES')
  if head[2] then out[2] = tonumber(head[2]) - now else out[2] = -1 end
  return out
end
local definitions = redis.call('HMGET', schedules, unpack(names))
for i, name in ipairs(names) do
  if definitions[i] then
    out[#out + 1] = name
    out[#out + 1] = definitions[i]
  end
end
return out
