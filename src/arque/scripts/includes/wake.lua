-- wake: raise the marker that idle consumers block on (BZPOPMIN), once.
local function wake(marker)
  if redis.call('EXISTS', marker) == 0 then
    redis.call('ZADD', marker, 0, 'ready')
  end
end
