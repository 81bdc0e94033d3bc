-- page_queue: read one page of the tasks in a state, for the dashboard, in one atomic read.
-- KEYS[1] pending      LIST  ready ids of priority 0 without a group (next out read first)
-- KEYS[2] delayed      ZSET  id -> due time (ms)
-- KEYS[3] working      ZSET  id -> lease deadline (ms)
-- KEYS[4] leases       HASH  id -> delivery token
-- KEYS[5] tasks        HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[6] prioritized  ZSET  ready ids without a group, priority != 0 -> order
-- KEYS[7] grouped      ZSET  ready tasks of groups: '<group>\0<rank>\0<seq>\0<id>'
-- ARGV[1] state    'pending', 'delayed' or 'working'
-- ARGV[2] offset   how many to skip (the page's cursor)
-- ARGV[3] limit    at most this many
-- returns {total, now_ms, then 4 per task: id, score (due or deadline ms; -1 for pending),
--          token or false, metadata or false}
-- Every ready task is pending: those without a group in the order they go out
-- (priority above 0, the plain list, priority below 0), then those of groups,
-- group by group, each in its own order (the round-robin interleaves them).
--@include now_ms
--@include record
--@include handed_out
local pending, delayed, working, leases, tasks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local prioritized, grouped = KEYS[6], KEYS[7]
local state, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local out = {0, now}
local ids, scores = {}, {}

-- One run of ready tasks: its length and a reader of its items first .. last (0-based).
local function zrange(key, base)
  return function(first, last) return redis.call('ZRANGE', key, base + first, base + last) end
end
local function ready_segments()
  -- Scores below 1000 * 2^40 are the priorities above 0 (see make_ready).
  local high = redis.call('ZCOUNT', prioritized, '-inf', '(1099511627776000')
  local all = redis.call('ZCARD', prioritized)
  local function tail_first(first, last)  -- RPOP takes from the tail
    local raw = redis.call('LRANGE', pending, -1 - last, -1 - first)
    local reversed = {}
    for i = #raw, 1, -1 do reversed[#reversed + 1] = raw[i] end
    return reversed
  end
  local function group_ids(first, last)
    local members = redis.call('ZRANGE', grouped, first, last)
    for i, member in ipairs(members) do members[i] = string.match(member, '^[^%z]*%z[^%z]*%z[^%z]*%z(.*)$') end
    return members
  end
  return {{high, zrange(prioritized, 0)}, {redis.call('LLEN', pending), tail_first},
          {all - high, zrange(prioritized, high)}, {redis.call('ZCARD', grouped), group_ids}}
end

if state == 'pending' then
  local skip, wanted = offset, limit
  for _, segment in ipairs(ready_segments()) do
    local length, read = segment[1], segment[2]
    out[1] = out[1] + length
    if wanted > 0 and skip < length then
      local last = math.min(length - 1, skip + wanted - 1)
      for _, id in ipairs(read(skip, last)) do ids[#ids + 1] = id; scores[#scores + 1] = -1 end
      wanted = wanted - (last - skip + 1)
      skip = 0
    else
      skip = math.max(0, skip - length)
    end
  end
else
  local set = delayed
  if state == 'working' then set = working end
  out[1] = redis.call('ZCARD', set)
  local raw = redis.call('ZRANGE', set, offset, offset + limit - 1, 'WITHSCORES')
  for i = 1, #raw, 2 do ids[#ids + 1] = raw[i]; scores[#scores + 1] = raw[i + 1] end
end
if #ids == 0 then return out end
local metas = redis.call('HMGET', tasks, unpack(ids))
local tokens = redis.call('HMGET', leases, unpack(ids))
for i, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = scores[i]
  out[#out + 1] = tokens[i]
  local meta = metas[i] and record_meta(metas[i])
  -- A working task's attempt and hand-out time are in its token (handed_out).
  if meta and tokens[i] then meta = cjson.encode(handed_out(cjson.decode(meta), tokens[i])) end
  out[#out + 1] = meta
end
return out
