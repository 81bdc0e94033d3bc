-- read_throughput: the per-minute rollups of the last minutes, in one atomic read.
-- KEYS[1] throughput  HASH  "<minute>:<outcome>" -> tasks settled that minute
-- ARGV[1] minutes     how many minutes back from now (the current one included)
-- ARGV[n]             the outcomes to read, from ARGV[2] on
-- returns {current_minute, then per minute oldest first and per outcome: count or false}
--@include now_ms
local minute = math.floor(now_ms() / 60000)
local fields = {}
for m = minute - tonumber(ARGV[1]) + 1, minute do
  for i = 2, #ARGV do fields[#fields + 1] = string.format('%d:%s', m, ARGV[i]) end
end
local out = redis.call('HMGET', KEYS[1], unpack(fields))
table.insert(out, 1, minute)
return out
