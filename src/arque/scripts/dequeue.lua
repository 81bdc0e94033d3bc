-- dequeue: hand out up to max_tasks ready tasks, each under a lease with a
-- fresh delivery token; due delayed tasks are promoted first.
-- KEYS[1] pending   LIST  ids ready to hand out
-- KEYS[2] delayed   ZSET  id -> due time (ms)
-- KEYS[3] working   ZSET  id -> lease deadline (ms)
-- KEYS[4] leases    HASH  id -> delivery token
-- KEYS[5] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[6] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[7] marker    ZSET  wake-up flag for idle consumers
-- KEYS[8]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[9] failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[10] failed_poison_pill        ZSET    in DeadReason order
-- KEYS[11] failed_undecodable        ZSET
-- KEYS[12] failed_rejected           ZSET
-- KEYS[13] failed_cancelled          ZSET
-- KEYS[14] config                    HASH  the queue's stored settings; each overrides the ARGV of its name
-- KEYS[15] timer       STRING  due time (ms) the time-keeping consumer waits for
-- KEYS[16] cancelling  SET     working ids asked to stop
-- KEYS[17] waiting     HASH    id -> 1: someone awaits its result
-- KEYS[18] finished    STREAM  ids of awaited tasks that finished
-- KEYS[19] prioritized    ZSET  ready ids without a group, priority != 0 (what runs next,
-- KEYS[20] grouped        ZSET    in keys.SCHED_ROLES order: see includes/sched_keys.lua
-- KEYS[21] groups         ZSET    and keys.py)
-- KEYS[22] group_waits    ZSET
-- KEYS[23] group_working  HASH
-- KEYS[24] seq            STRING
-- KEYS[25] starts         ZSET
-- KEYS[26] group_starts   ZSET
-- KEYS[27] group_windows  ZSET
-- ARGV[1] max_tasks      hand out at most this many
-- ARGV[2] working_limit  0: no limit; else at most this many working, all consumers together
-- ARGV[3] requeue_limit  a task is handed out at most this many times
-- ARGV[4] max_failed     retention of dead letters by count (0: unbounded)
-- ARGV[5] group_limit        0: no limit; else at most this many working per group
-- ARGV[6] rate_limit         0: no limit; else at most this many hand-outs in any rate_window
-- ARGV[7] rate_window        ms
-- ARGV[8] group_rate_limit   the same per group
-- ARGV[9] group_rate_window  ms
--                        (ARGV[2..9]: the caller's, used where the config stores none;
--                        ARGV[5..9] may be left out: no limit, windows of 1 s)
-- returns {status, wait_us, keeper, ready, then 8 per task: id, token, record, attempt,
--   deadline_ms, waited_ms, trace, lease_ms} (needs Redis >= 6.2: RPOP with a count)
--   status 0: nothing ready; 1: tasks handed out; 3: tasks handed out, but fewer than
--            max_tasks: the call ran out of its time (includes/budget.lua) with more
--            ready, so the caller may call again at once for the rest; 2: held back by a limit: working_limit,
--            rate_limit, or ready tasks left only in groups at group_limit or with a full
--            group_rate_limit window
--   wait_us: microseconds until the next delayed task is due or, held back by a rate
--            window, until it admits a start, whichever comes first (-1: none; with
--            status 0, 0: this call dead-lettered its share of exhausted tasks, or looked
--            at its share of turns of held-back groups: call again)
-- Priority > 0 first, then plain tasks, then priority < 0; groups with ready
-- tasks (and '' for the tasks without one) take turns, one task each.
--   keeper: 1 if this caller is to raise the marker at that due time (see grant_timer)
--   ready: how many tasks are left ready (when 0, the next dequeue can wait for the marker)
--   waited_ms: from when the task became ready to this hand-out
--   trace: the W3C trace context of its enqueue, '' for none
--   lease_ms: the lease's length from now, by the Redis clock (deadline_ms is on it too)
--   record: the task's record as stored, '<metadata JSON>\n<payload>' (the caller takes the
--           payload after its first newline: a large one is not copied again in Lua)
-- The record is not rewritten: the attempt and the hand-out time go in the token
-- (see includes/handed_out.lua).
--@include now_ms
--@include record
--@include failed_indexes
--@include ensure_types
--@include wake
--@include unindex_failed
--@include drop_failed
--@include trim_failed
--@include life_keys
--@include finished
--@include dead_letter
--@include sched_keys
--@include group_head
--@include add_turn
--@include group_member
--@include make_ready
--@include promote_due
--@include free_group_slots
--@include free_group_slot
--@include any_ready
--@include take_ungrouped
--@include group_turn
--@include expire_windows
--@include queue_config
--@include ready_since
--@include grant_timer
--@include budget
local pending, delayed, working, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local tasks, failed, marker, timer = KEYS[5], KEYS[6], KEYS[7], KEYS[15]
local S = sched_keys(19)
-- The keys that usually exist first (an idle queue's two, its stored settings, then a
-- busy queue's), dead letters and a task's life last (ensure_types).
local err, present = ensure_types({pending, 'list', tasks, 'hash', KEYS[14], 'hash',
  working, 'zset', leases, 'hash',
  marker, 'zset', delayed, 'zset', timer, 'string',
  S.prioritized, 'zset', S.grouped, 'zset', S.groups, 'zset',
  S.group_waits, 'zset', S.group_working, 'hash', S.seq, 'string', S.starts, 'zset',
  S.group_starts, 'zset', S.group_windows, 'zset', failed, 'zset',
  KEYS[8], 'zset', KEYS[9], 'zset', KEYS[10], 'zset', KEYS[11], 'zset', KEYS[12], 'zset', KEYS[13], 'zset',
  KEYS[16], 'set', KEYS[17], 'hash', KEYS[18], 'stream'})
if err then return err end
local indexes = failed_indexes(8)
local life = life_keys(16)

local max_tasks = tonumber(ARGV[1])
local working_limit, requeue_limit, max_failed, group_limit, rate, window, group_rate, group_window =
  queue_config(present[KEYS[14]] and KEYS[14], {'working_limit', 'requeue_limit', 'max_failed', 'group_limit', 'rate_limit',
  'rate_window', 'group_rate_limit', 'group_rate_window'},
  {ARGV[2], ARGV[3], ARGV[4], ARGV[5] or 0, ARGV[6] or 0, ARGV[7] or 1000, ARGV[8] or 0, ARGV[9] or 1000})
local now, time = now_ms()

-- A key found absent at the start is not read while nothing can have made it:
-- an idle consumer's wake-up (one task ready, no feature in use) reads little.
-- dequeue never adds to delayed (so to the timer it keeps), nor to group_waits
-- and group_windows before it picks; only a promotion (and a group's turn,
-- from group_waits) can make the prioritized, grouped and groups keys before.
local promoted = present[delayed] and promote_due(delayed, pending, S, tasks, now, math.max(max_tasks, 25)) or 0
if present[S.group_waits] or present[S.group_windows] then expire_windows(S, now, 100) end
local unmade = promoted == 0 and not present[S.group_waits]
-- Until the first pick: absent then, absent still (a pick may give a group its turn back).
local absent = {groups = unmade and not present[S.groups],
  prioritized = unmade and not present[S.prioritized]}
-- No group in turn all along: none at the start, and no pick gave one its turn back.
local turnless = absent.groups
-- Absent all along: the pick only takes from these two.
local never_prioritized = unmade and not present[S.prioritized]
local never_grouped = unmade and not present[S.grouped]
-- Nothing but a promotion makes seq; dequeue raises the marker only where it keeps it.
local function drop_seq() if present[S.seq] or promoted > 0 then redis.call('DEL', S.seq) end end
local function drop_marker() if present[marker] then redis.call('DEL', marker) end end
-- grant_timer, knowing delayed and the timer key absent: no delayed task, no time kept.
local function next_due(also)
  if also == nil and not present[delayed] then
    if present[timer] then redis.call('DEL', timer) end
    return -1, 0
  end
  return grant_timer(delayed, timer, time, also)
end
-- How many are ready, all structures together (the reply's 'ready').
local function ready_count()
  return redis.call('LLEN', pending) + (never_prioritized and 0 or redis.call('ZCARD', S.prioritized))
    + (never_grouped and 0 or redis.call('ZCARD', S.grouped))
end

if working_limit > 0 then
  local free = working_limit - (present[working] and redis.call('ZCARD', working) or 0)
  if free <= 0 then
    local wait, keeper = next_due(nil)
    return {2, wait, keeper, ready_count()}
  end
  if free < max_tasks then max_tasks = free end
end
if rate > 0 then
  -- A sliding window: starts at or before now - window have left it.
  redis.call('ZREMRANGEBYSCORE', S.starts, '-inf', now - window)
  local used = redis.call('ZCARD', S.starts)
  if used >= rate then
    if any_ready(pending, S) then
      -- Held back until the oldest start leaves the window: one consumer keeps that time.
      local oldest = tonumber(redis.call('ZRANGE', S.starts, 0, 0, 'WITHSCORES')[2])
      local wait, keeper = next_due(oldest + window)
      return {2, wait, keeper, ready_count()}
    end
    max_tasks = 0
  elseif rate - used < max_tasks then
    max_tasks = rate - used
  end
end

local stamp = time[1] .. string.format('%06d', tonumber(time[2]))
local turns = {group_limit = group_limit, group_rate = group_rate, group_window = group_window,
  now = now, stamp = stamp}
-- The next n ready ids: groups (and '' for the tasks without one) take turns
-- while any group has a turn; the rest come in bulk from the ungrouped ones.
-- Turns are read a round at a time: each group served goes to the end, after
-- every group of this round, so the round's order holds.
-- At most TURN_BUDGET turns are looked at per call, so groups leaving the turn
-- in numbers (group_limit lowered) are dealt with over several calls.
local TURN_BUDGET, looked, budget_spent = 1000, 0, false
local function pick(n)
  local ids = {}
  local groups_absent = absent.groups
  absent.groups = false
  if not groups_absent and redis.call('EXISTS', S.groups) == 1 then
    if (redis.call('LLEN', pending) > 0 or redis.call('EXISTS', S.prioritized) == 1)
        and not redis.call('ZSCORE', S.groups, '') then
      add_turn(S, '')
    end
    turns.last = tonumber(redis.call('ZRANGE', S.groups, -1, -1, 'WITHSCORES')[2])
    while #ids < n do
      if looked >= TURN_BUDGET then
        budget_spent = true
        return ids
      end
      local round = redis.call('ZRANGE', S.groups, 0, math.min(n - #ids, TURN_BUDGET - looked) - 1)
      looked = looked + #round
      if #round == 0 then break end
      local counts = redis.call('HMGET', S.group_working, unpack(round))
      turns.count, turns.drop, turns.moved, turns.gone = {}, {}, {}, {}
      for i, turn in ipairs(round) do turns.count[turn] = tonumber(counts[i]) or 0 end
      -- A group alone in the turn takes what many rounds would give it, in one read.
      local alone = #round == 1 and redis.call('ZCARD', S.groups) == 1
      for _, turn in ipairs(round) do
        if #ids >= n then break end
        if turn ~= '' then
          group_turn(S, turn, turns, ids, alone and n - #ids or 1)
        elseif alone then
          -- Only the ungrouped tasks are left: no turns needed.
          turns.gone[#turns.gone + 1] = ''
        else
          local id = take_ungrouped(pending, S, 1)[1]
          if id then
            ids[#ids + 1] = id
            turns.last = turns.last + 1
            turns.moved[#turns.moved + 1] = turns.last
            turns.moved[#turns.moved + 1] = ''
          else
            turns.gone[#turns.gone + 1] = ''
          end
        end
      end
      -- The round's writes, one command per key.
      local working = {}
      for group, count in pairs(turns.count) do
        if group ~= '' and count > 0 then
          working[#working + 1] = group
          working[#working + 1] = count
        end
      end
      if #turns.drop > 0 then redis.call('ZREM', S.grouped, unpack(turns.drop)) end
      if #working > 0 then redis.call('HSET', S.group_working, unpack(working)) end
      if #turns.moved > 0 then redis.call('ZADD', S.groups, unpack(turns.moved)) end
      if #turns.gone > 0 then redis.call('ZREM', S.groups, unpack(turns.gone)) end
    end
  end
  if #ids < n then
    local prioritized_absent = absent.prioritized
    absent.prioritized = false
    for _, id in ipairs(take_ungrouped(pending, S, n - #ids, prioritized_absent)) do ids[#ids + 1] = id end
  end
  return ids
end

local out = {1, -1, 0, 0}
-- Ids come off pending in chunks (RPOP with a count, Redis >= 6.2), and each
-- chunk is read and written with one command per key.
-- Exhausted or broken tasks found on the way are dead-lettered, at most
-- DEAD_BUDGET per call, so a backlog of them is cleared over several calls.
-- The first chunk is small, 8, so that on a slowed server it cannot outlast
-- the call's time by much before the clock is read; after each, the clock says
-- how many more fit in the call's time (includes/budget.lua) at the pace of
-- the last chunk, and the next chunk is that many at most.
local DEAD_BUDGET = 100
local left, dead, chunk, out_of_time = max_tasks, 0, 8, false
local started = clock_us(time)
local chunk_started = started
while left > 0 and dead < DEAD_BUDGET do
  local asked = math.min(left, chunk, DEAD_BUDGET - dead)
  local ids = pick(asked)
  if #ids == 0 then break end
  local raws = redis.call('HMGET', tasks, unpack(ids))
  local leased, deadlines = {}, {}
  for j, id in ipairs(ids) do
    local raw = raws[j]
    local meta = {t = 0, e = now}
    if raw then meta = cjson.decode(record_meta(raw)) end
    local attempts = meta['a'] or 0
    -- A group's slot was taken with its turn: one that is not handed out gives it back.
    if attempts >= requeue_limit or not raw then
      free_group_slot(S, meta)
      turnless = false
    end
    if not raw then
      dead_letter(failed, indexes, tasks, id, meta, '', 'undecodable', 'task metadata missing', now, max_failed, life)
      dead = dead + 1
    elseif attempts >= requeue_limit then
      local _, payload = split_record(raw)
      dead_letter(failed, indexes, tasks, id, meta, payload, 'retries_exhausted', nil, now, max_failed, life)
      dead = dead + 1
    else
      local token = (attempts + 1) .. '-' .. stamp
      local deadline = now + meta['t']
      leased[#leased + 1] = id
      leased[#leased + 1] = token
      deadlines[#deadlines + 1] = deadline
      deadlines[#deadlines + 1] = id
      out[#out + 1] = id
      out[#out + 1] = token
      out[#out + 1] = raw
      out[#out + 1] = attempts + 1
      out[#out + 1] = deadline
      out[#out + 1] = math.max(now - ready_since(meta), 0)
      out[#out + 1] = meta['tc'] or ''
      out[#out + 1] = meta['t']
      if rate > 0 then redis.call('ZADD', S.starts, now, stamp .. id) end
      left = left - 1
    end
  end
  if #leased > 0 then
    redis.call('HSET', leases, unpack(leased))
    redis.call('ZADD', working, unpack(deadlines))
  end
  if #ids < asked or left == 0 or dead >= DEAD_BUDGET then break end
  local clock = clock_us()
  local pace = math.max(clock - chunk_started, 1) / #ids
  chunk = math.min(math.floor((BUDGET_US - (clock - started)) / pace), 500)
  chunk_started = clock
  if chunk < 1 then
    out_of_time = true
    break
  end
end

if rate > 0 and #out > 4 then redis.call('PEXPIRE', S.starts, window) end
if #out == 4 and (budget_spent or out_of_time or dead >= DEAD_BUDGET) and any_ready(pending, S) then
  -- Out of budget with more to look at: the caller (or another consumer) goes on.
  wake(marker)
  return {0, 0, 0, ready_count()}
end
-- Ready tasks left only in groups held back by their limits: the caller is held
-- back too, until a slot frees (a wake-up) or a group's rate window admits a start.
local held = #out == 4 and redis.call('EXISTS', S.grouped) == 1
local held_until = nil
if held then held_until = tonumber(redis.call('ZRANGE', S.group_waits, 0, 0, 'WITHSCORES')[2]) end
-- The next due time goes with every reply: a consumer that took a task can
-- keep the time as well as an idle one (the timer is its process's, not its own).
out[2], out[3] = next_due(held_until)
-- What is left ready (the reply's 'ready'), counted once for what follows.
local queued = redis.call('LLEN', pending)
local prioritized = never_prioritized and 0 or redis.call('ZCARD', S.prioritized)
local grouped = never_grouped and 0 or redis.call('ZCARD', S.grouped)
out[4] = queued + prioritized + grouped
if #out == 4 then
  -- Nothing is ready: no consumer needs waking, and a drained queue keeps no key.
  drop_marker()
  if not held and prioritized == 0 then drop_seq() end
  out[1] = held and 2 or 0
  return out
end
if out_of_time and out[4] > 0 then out[1] = 3 end
-- Others are still ready (any_ready): pass the wake-up on to the next idle consumer.
if queued > 0 or prioritized > 0 or (not turnless and redis.call('EXISTS', S.groups) == 1) then
  if working_limit == 0 or redis.call('ZCARD', working) < working_limit then wake(marker) end
else
  drop_marker()
  -- Nothing ordered is left: the sequence starts again (a drained queue keeps no key).
  if grouped == 0 and prioritized == 0 then drop_seq() end
end
return out
