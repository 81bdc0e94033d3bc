-- now_ms: the Redis server's clock, in milliseconds, and the raw TIME pair.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), t
end
