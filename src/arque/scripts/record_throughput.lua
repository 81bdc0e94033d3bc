-- record_throughput: add settled tasks to the per-minute rollups of a queue,
-- and drop the minutes older than the retention.
-- KEYS[1] throughput  HASH  "<minute>:<outcome>" -> tasks settled that minute;
--                           "<minute>" -> 1 while that minute has counts
-- ARGV[1] keep_minutes  how many minutes of rollups to keep
-- ARGV[n], ARGV[n+1]    outcome, count (pairs; counts added to the current minute)
-- returns the current minute (minutes since the epoch, Redis clock)
--@include now_ms
--@include ensure_types
local rollups = KEYS[1]
local err = ensure_types({rollups, 'hash'})
if err then return err end

local minute = math.floor(now_ms() / 60000)
-- Field names (not key names): "<minute>:<outcome>".
local function field(m, outcome) return string.format('%d:%s', m, outcome) end
local keep = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', rollups, field(minute, ARGV[i]), tonumber(ARGV[i + 1]))
end
-- Trim: each minute's fields are listed under the minute itself, so dropping
-- an old minute needs no scan of the hash.
redis.call('HSET', rollups, string.format('%d', minute), 1)
local oldest = tonumber(redis.call('HGET', rollups, 'oldest') or minute)
local stop = math.min(minute - keep, oldest + 1440)
for m = oldest, stop do
  if redis.call('HEXISTS', rollups, string.format('%d', m)) == 1 then
    redis.call('HDEL', rollups, string.format('%d', m), field(m, 'released'), field(m, 'retried'),
      field(m, 'dead_lettered'), field(m, 'timed_out'), field(m, 'cancelled'), field(m, 'lease_lost'))
  end
end
redis.call('HSET', rollups, 'oldest', math.max(oldest, stop + 1))
redis.call('PEXPIRE', rollups, keep * 60000)
return minute
