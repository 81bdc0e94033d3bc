-- enqueue: add tasks to the queue; an id that is still live (dead letters
-- included) is left as it is. (One task ready now, without priority, group or trace
-- context, goes to enqueue_one.lua: three keys, less work for Redis.)
-- KEYS[1] pending   LIST  ids ready to hand out
-- KEYS[2] delayed   ZSET  id -> due time (ms)
-- KEYS[3] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[4] marker    ZSET  wake-up flag for idle consumers
-- KEYS[5] prioritized    ZSET  ready ids without a group, priority != 0 (what runs next,
-- KEYS[6] grouped        ZSET    in keys.SCHED_ROLES order: see includes/sched_keys.lua
-- KEYS[7] groups         ZSET    and keys.py)
-- KEYS[8] group_waits    ZSET
-- KEYS[9] group_working  HASH
-- KEYS[10] seq            STRING
-- KEYS[11] starts         ZSET
-- KEYS[12] group_starts   ZSET
-- KEYS[13] group_windows  ZSET
-- ARGV[1] count     number of tasks that follow
-- ARGV[2] shared    1: ARGV[3..7] give timeout_ms, delay_ms, at_ms, priority, group for
--                   every task and 2 arguments follow per task; 0: 7 arguments follow per task;
--                   3 and 2: as 1 and 0 with one more argument per task, its trace context:
-- ARGV[n] task_id, payload[, timeout_ms, delay_ms (-1: none), at_ms (-1: none),
--         priority (an integer in -1000..1000, higher first), group ('': none)][, trace]
--                   (trace: a W3C traceparent[|tracestate], kept in the metadata as 'tc';
--                   '' for none; the caller has checked it needs no JSON escaping)
-- returns a list with, per task, 1 if it was added, 0 if its id was live; a call
--   that runs out of its time (includes/budget.lua) answers for the first tasks only,
--   and the caller sends the others again
--@include now_ms
--@include record
--@include budget
local pending, delayed, tasks, marker = KEYS[1], KEYS[2], KEYS[3], KEYS[4]

local count, mode = tonumber(ARGV[1]), tonumber(ARGV[2])
local shared, traced = mode == 1 or mode == 3, mode >= 2
local stride, first = 7, 3
if shared then stride, first = 2, 8 end
if traced then stride = stride + 1 end
-- task(i): the id, payload, timing, priority, group and trace context of task i (from 0).
local function task(i)
  local base = first + i * stride
  local at = shared and 3 or base + 2
  local trace = traced and ARGV[base + stride - 1] or ''
  return ARGV[base], ARGV[base + 1], tonumber(ARGV[at]), tonumber(ARGV[at + 1]),
    tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]), ARGV[at + 4], trace
end
-- The metadata JSON of a task without priority or group, written by hand: cheaper than
-- cjson on the hot path. The counters (a, r, q) are left out while 0: readers take a
-- missing one as 0. Ready and untraced, it is kept compact, '[t,e]' (includes/record.lua).
local function plain_meta(timeout, now, due, trace)
  if due <= now and trace == '' then return string.format('[%d,%d]', timeout, now) end
  local tail = '}'
  if trace ~= '' then tail = ',"tc":"' .. trace .. '"}' end
  if due > now then return string.format('{"t":%d,"e":%d,"dp":1,"dt":%d', timeout, now, due) .. tail end
  return string.format('{"t":%d,"e":%d', timeout, now) .. tail
end
local function due_at(now, delay, at)
  if at >= 0 then return at elseif delay > 0 then return now + delay end
  return -1
end

local now, time = now_ms()
local started = clock_us(time)

--@include ensure_types
--@include wake
--@include sched_keys
--@include group_head
--@include add_turn
--@include group_member
--@include make_ready
local S = sched_keys(5)
local err = ensure_types({pending, 'list', tasks, 'hash', marker, 'zset', delayed, 'zset',
  S.prioritized, 'zset', S.grouped, 'zset', S.groups, 'zset', S.group_waits, 'zset', S.seq, 'string'})
if err then return err end

local added = {}
local ready, head_moved = false, false
-- Writes go out in chunks, one LPUSH and one HSET per key for many tasks.
local ready_ids, records, seen = {}, {}, {}
local function flush()
  if #ready_ids > 0 then redis.call('LPUSH', pending, unpack(ready_ids)) end
  if #records > 0 then redis.call('HSET', tasks, unpack(records)) end
  ready_ids, records = {}, {}
end
-- The clock is read (after the writes so far) every 16 tasks, or sooner after
-- large payloads: a task weighs 1 plus one per 16 KiB of its payload.
local weight = 0

for i = 0, count - 1 do
  local id, payload, timeout, delay, at, priority, group, trace = task(i)
  if seen[id] or redis.call('HEXISTS', tasks, id) == 1 then
    added[#added + 1] = 0
  else
    seen[id] = true
    local due = due_at(now, delay, at)
    local meta
    if priority ~= 0 or group ~= '' then
      -- Kept in the metadata: a delayed, requeued, recovered or replayed task keeps them.
      local fields = {t = timeout, e = now}
      if priority ~= 0 then fields['p'] = priority end
      if group ~= '' then fields['g'] = group end
      if trace ~= '' then fields['tc'] = trace end
      if due > now then
        fields['dp'], fields['dt'] = 1, due
        redis.call('ZADD', delayed, due, id)
        if redis.call('ZRANGE', delayed, 0, 0)[1] == id then head_moved = true end
      else
        make_ready(pending, S, id, fields, false)
        ready = true
      end
      meta = cjson.encode(fields)
    else
      meta = plain_meta(timeout, now, due, trace)
      if due > now then
        redis.call('ZADD', delayed, due, id)
        if redis.call('ZRANGE', delayed, 0, 0)[1] == id then head_moved = true end
      else
        ready_ids[#ready_ids + 1] = id
        ready = true
      end
    end
    records[#records + 1] = id
    records[#records + 1] = join_record(meta, payload)
    added[#added + 1] = 1
    weight = weight + math.floor(#payload / 16384)
  end
  weight = weight + 1
  if weight >= 16 and i < count - 1 then
    weight = 0
    flush()
    if clock_us() - started >= BUDGET_US then break end
  end
end
flush()
-- A consumer waiting for the old earliest due time must look again.
if ready or head_moved then wake(marker) end
return added
