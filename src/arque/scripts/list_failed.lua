-- list_failed: read a page of dead letters, newest first, in one atomic read:
-- all of them (the failed set) or those of one reason (its index). A page
-- starts at an offset (seed-compatible) or after a cursor, the (time, id) of
-- the last dead letter of the page before; either way the work is
-- O(log n + page), whatever the number of dead letters.
-- KEYS[1] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[3] failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[4] failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[5] failed_poison_pill        ZSET    in DeadReason order
-- KEYS[6] failed_undecodable        ZSET
-- KEYS[7] failed_rejected           ZSET
-- KEYS[8]  failed_cancelled          ZSET
-- ARGV[1] offset       how many (matching) dead letters to skip; ignored with a cursor
-- ARGV[2] limit        at most this many
-- ARGV[3] reason       '' for all; else only the dead letters of this reason
-- ARGV[4] after_ms     cursor: the time of the last dead letter seen ('' for none)
-- ARGV[5] after_id     cursor: its id
-- returns {total, more, id, time_ms, metadata, payload, id, time_ms, ...}: total
-- dead letters (of reason), more = 1 when others follow the page; an error reply
-- ARQUE_BADREASON for an unknown reason
--@include failed_indexes
--@include record
-- Whether a sorts before b as Redis sorts members of equal score: byte by
-- byte (Lua's own '<' follows the server's locale).
local function bytes_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

local tasks = KEYS[2]
local indexes = failed_indexes(3)
local offset, limit, reason = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local set = KEYS[1]
if reason ~= '' then
  set = indexes[reason]
  if not set then return redis.error_reply('ARQUE_BADREASON ' .. reason) end
end

-- One more than a page is read, to tell whether another page follows.
local found
if ARGV[4] == '' then
  found = redis.call('ZREVRANGE', set, offset, offset + limit, 'WITHSCORES')
else
  local after_ms, after_id = tonumber(ARGV[4]), ARGV[5]
  local rank = redis.call('ZREVRANK', set, after_id)
  if rank and tonumber(redis.call('ZSCORE', set, after_id)) == after_ms then
    found = redis.call('ZREVRANGE', set, rank + 1, rank + 1 + limit, 'WITHSCORES')
  else
    -- The cursor's dead letter is gone (replayed, purged): start at its time
    -- and skip those of that same millisecond ordered before it (ids at equal
    -- times come in reverse byte order): at most the dead letters written in
    -- that one millisecond, a chunk of one script call or a few.
    found = {}
    local start = 0
    while #found < 2 * (limit + 1) do
      local chunk = redis.call('ZREVRANGEBYSCORE', set, after_ms, '-inf', 'WITHSCORES',
        'LIMIT', start, limit + 1)
      if #chunk == 0 then break end
      for i = 1, #chunk, 2 do
        if (tonumber(chunk[i + 1]) < after_ms or bytes_before(chunk[i], after_id))
            and #found < 2 * (limit + 1) then
          found[#found + 1] = chunk[i]
          found[#found + 1] = chunk[i + 1]
        end
      end
      start = start + limit + 1
    end
  end
end

local out = {redis.call('ZCARD', set), 0}
local count = math.min(#found / 2, limit)
if #found / 2 > limit then out[2] = 1 end
for i = 1, count do
  local id = found[2 * i - 1]
  out[#out + 1] = id
  out[#out + 1] = found[2 * i]
  local raw = redis.call('HGET', tasks, id)
  if raw then
    local meta, payload = split_record(raw)
    out[#out + 1] = meta
    out[#out + 1] = payload
  else
    out[#out + 1] = false
    out[#out + 1] = false
  end
end
return out
