-- any_ready: whether a task can be handed out now, by what it needs: plain
-- ones pending, prioritized ones, or a group with a turn in the round-robin.
local function any_ready(pending, S)
  return redis.call('LLEN', pending) > 0 or redis.call('EXISTS', S.prioritized) == 1
    or redis.call('EXISTS', S.groups) == 1
end
