-- configure: store settings of the queue (its owner's), remove others, and
-- read back every stored one, in one atomic step.
-- KEYS[1] config  HASH  setting name -> value (an integer; durations in ms)
-- ARGV[1] only_if_none  1: write only when the queue stores no setting at all (an
--                       owner after NOSCRIPT: a server that lost its data); 0: write
-- ARGV[n], ARGV[n+1]    name, value ('' removes the stored setting: callers' own apply again)
-- returns the stored settings: {name, value, name, value, ...}
--@include ensure_types
local config = KEYS[1]
local err = ensure_types({config, 'hash'})
if err then return err end

if ARGV[1] == '0' or redis.call('EXISTS', config) == 0 then
  for i = 2, #ARGV, 2 do
    if ARGV[i + 1] == '' then
      redis.call('HDEL', config, ARGV[i])
    else
      redis.call('HSET', config, ARGV[i], ARGV[i + 1])
    end
  end
end
return redis.call('HGETALL', config)
