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
-- KEYS[5] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[6] marker    ZSET  wake-up flag for idle consumers
-- KEYS[7] prioritized    ZSET  ready ids without a group, priority != 0 (what runs next,
-- KEYS[8] grouped        ZSET    in keys.SCHED_ROLES order: see includes/sched_keys.lua
-- KEYS[9] groups         ZSET    and keys.py)
-- KEYS[10] group_waits    ZSET
-- KEYS[11] group_working  HASH
-- KEYS[12] seq            STRING
-- KEYS[13] starts         ZSET
-- KEYS[14] group_starts   ZSET
-- KEYS[15] group_windows  ZSET
-- ARGV[1] name
-- ARGV[2] version  the version the caller read
-- ARGV[3] tick_ms  the run the caller read as due (the schedule's next run)
-- ARGV[4] next_ms  the run after it (> tick_ms, and after now on the caller's reading)
-- ARGV[5] task_id  the id of the task of this run
-- returns {status, wait_ms}: 1 fired; 0 lost the race (removed, another version,
-- or fired already); 2 not due yet, due in wait_ms; an error reply
-- ARQUE_BADNEXT, and nothing written, when next_ms is not after tick_ms
--@include now_ms
--@include record
--@include ensure_types
--@include wake
--@include sched_keys
--@include group_head
--@include add_turn
--@include group_member
--@include make_ready
local schedules, due, schedule_payloads = KEYS[1], KEYS[2], KEYS[3]
local pending, tasks, marker = KEYS[4], KEYS[5], KEYS[6]
local err = ensure_types({schedules, 'hash', due, 'zset', schedule_payloads, 'hash',
  pending, 'list', tasks, 'hash', marker, 'zset'})
if err then return err end
local S = sched_keys(7)
err = ensure_types({S.prioritized, 'zset', S.grouped, 'zset', S.groups, 'zset', S.group_waits, 'zset',
  S.seq, 'string'})
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
  -- Its metadata as enqueue writes it: the schedule's priority and group go with the task.
  local priority, group = tonumber(definition['pri']) or 0, definition['grp']
  local meta
  if priority == 0 and (group == nil or group == cjson.null) then
    meta = string.format('{"t":%d,"e":%d}', definition['t'], now)
    redis.call('LPUSH', pending, id)
  else
    local fields = {t = definition['t'], e = now}
    if priority ~= 0 then fields['p'] = priority end
    if group ~= nil and group ~= cjson.null then fields['g'] = group end
    make_ready(pending, S, id, fields, false)
    meta = cjson.encode(fields)
  end
  -- schedule_upsert writes the payload with the definition, schedule_remove deletes both.
  redis.call('HSET', tasks, id, join_record(meta, redis.call('HGET', schedule_payloads, name)))
  wake(marker)
end
definition['n'] = next_run
redis.call('HSET', schedules, name, cjson.encode(definition))
redis.call('ZADD', due, next_run, name)
return {1, 0}
