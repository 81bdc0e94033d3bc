-- schedule_upsert: create or replace a schedule in one atomic step. The same
-- definition again (same fingerprint) changes nothing, so an application that
-- declares its schedules at each start neither skips nor repeats a run; a new
-- definition gets the next version, which makes any firing of the old one
-- that is in flight fail its compare-and-set (schedule_fire).
-- KEYS[1] schedules          HASH  name -> schedule definition (JSON)
-- KEYS[2] schedules_due      ZSET  name -> next run (ms)
-- KEYS[3] schedule_payloads  HASH  name -> the payload of its tasks
-- ARGV[1] name
-- ARGV[2] definition  JSON object with its fingerprint 'fp' (no 'v' or 'n': set here)
-- ARGV[3] payload     the task's payload, as the serializer encoded it
-- ARGV[4] next_ms     its first run, used when the schedule is new or changed
-- returns {changed (1) or kept (0), version, next_ms}
--@include ensure_types
local schedules, due, payloads = KEYS[1], KEYS[2], KEYS[3]
local err = ensure_types({schedules, 'hash', due, 'zset', payloads, 'hash'})
if err then return err end

local name = ARGV[1]
local definition = cjson.decode(ARGV[2])
local version = 1
local old = redis.call('HGET', schedules, name)
if old then
  old = cjson.decode(old)
  if old['fp'] == definition['fp'] then return {0, old['v'], old['n']} end
  version = old['v'] + 1
end
definition['v'] = version
definition['n'] = tonumber(ARGV[4])
redis.call('HSET', schedules, name, cjson.encode(definition))
redis.call('HSET', payloads, name, ARGV[3])
redis.call('ZADD', due, definition['n'], name)
return {1, version, definition['n']}
