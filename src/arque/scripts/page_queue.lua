-- page_queue: read one page of the tasks in a state, for the dashboard, in one atomic read.
-- KEYS[1] pending  LIST  ids ready to hand out (the next one out is read first)
-- KEYS[2] delayed  ZSET  id -> due time (ms)
-- KEYS[3] working  ZSET  id -> lease deadline (ms)
-- KEYS[4] leases   HASH  id -> delivery token
-- KEYS[5] tasks    HASH  id -> metadata JSON
-- ARGV[1] state    'pending', 'delayed' or 'working'
-- ARGV[2] offset   how many to skip (the page's cursor)
-- ARGV[3] limit    at most this many
-- returns {total, now_ms, then 4 per task: id, score (due or deadline ms; -1 for pending),
--          token or false, metadata or false}
--@include now_ms
local pending, delayed, working, leases, tasks = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local state, offset, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local out = {0, now}
local ids, scores = {}, {}
if state == 'pending' then
  out[1] = redis.call('LLEN', pending)
  -- RPOP takes from the tail: read from the tail backwards, next out first.
  local first, last = -1 - offset, -offset - limit
  local raw = redis.call('LRANGE', pending, last, first)
  for i = #raw, 1, -1 do ids[#ids + 1] = raw[i]; scores[#scores + 1] = -1 end
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
  out[#out + 1] = metas[i]
end
return out
