-- schedule_fire: enqueue the run of a schedule due at tick_ms and advance the
-- schedule to next_ms, in one step, only if the schedule is still at that
-- version and that tick (compare-and-set): of all the workers that try the
-- same tick, exactly one enqueues it. The task's id is derived from the
-- schedule and the tick by the caller, so even a repeated call cannot add it
-- twice while it is live.
-- KEYS[1] schedules          HASH  name -> schedule definition (JSON)
-- KEYS[2] schedules_due      ZSET  name -> next run (ms)
-- KEYS[3] schedule_payloads  HASH  name -> the payload of its tasks
-- KEYS[4] pending   LIST  ids ready to hand out
-- KEYS[5] tasks     HASH  id -> metadata JSON
-- KEYS[6] payloads  HASH  id -> payload
-- KEYS[7] marker    ZSET  wake-up flag for idle consumers
-- ARGV[1] name
-- ARGV[2] version  the version the caller read
-- ARGV[3] tick_ms  the run the caller read as due (the schedule's next run)
-- ARGV[4] next_ms  the run after it (> tick_ms, and after now on the caller's reading)
-- ARGV[5] task_id  the id of the task of this run
-- returns {status, wait_ms}: 1 fired; 0 lost the race (removed, another version,
-- or fired already); 2 not due yet, due in wait_ms; an error reply
-- ARQUE_BADNEXT, and nothing written, when next_ms is not after tick_ms
--@include now_ms
--@include ensure_types
--@include wake
local schedules, due, schedule_payloads = KEYS[1], KEYS[2], KEYS[3]
local pending, tasks, payloads, marker = KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local err = ensure_types({schedules, 'hash', due, 'zset', schedule_payloads, 'hash',
  pending, 'list', tasks, 'hash', payloads, 'hash', marker, 'zset'})
if err then return err end

local name, version, tick, next_run = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local id = ARGV[5]
local raw = redis.call('HGET', schedules, name)
if not raw then return {0, -1} end
local definition = cjson.decode(raw)
if definition['v'] ~= version or definition['n'] ~= tick then return {0, -1} end
if next_run <= tick then return redis.error_reply('ARQUE_BADNEXT ' .. next_run .. ' <= ' .. tick) end
local now = now_ms()
if now < tick then return {2, tick - now} end

if redis.call('HEXISTS', tasks, id) == 0 then
  redis.call('HSET', tasks, id, string.format('{"t":%d,"a":0,"r":0,"q":0,"e":%d}', definition['t'], now))
  redis.call('HSET', payloads, id, redis.call('HGET', schedule_payloads, name))
  redis.call('LPUSH', pending, id)
  wake(marker)
end
definition['n'] = next_run
redis.call('HSET', schedules, name, cjson.encode(definition))
redis.call('ZADD', due, next_run, name)
return {1, 0}
