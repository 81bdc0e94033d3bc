-- configure: store settings of the queue (its owner's), remove others, and
-- read back every stored one, in one atomic step.
-- KEYS[1] config  HASH  setting name -> value (an integer; durations in ms)
-- ARGV[n], ARGV[n+1]  name, value ('' removes the stored setting: callers' own apply again)
-- returns the stored settings: {name, value, name, value, ...}
--@include ensure_types
local config = KEYS[1]
local err = ensure_types({config, 'hash'})
if err then return err end

for i = 1, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', config, ARGV[i])
  else
    redis.call('HSET', config, ARGV[i], ARGV[i + 1])
  end
end
return redis.call('HGETALL', config)
