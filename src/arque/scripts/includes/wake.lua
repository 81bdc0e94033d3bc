-- wake: raise the marker that idle consumers block on (BZPOPMIN). One ZADD:
-- when the marker is up already it changes nothing (and is not propagated).
local function wake(marker)
  redis.call('ZADD', marker, 0, 'ready')
end
