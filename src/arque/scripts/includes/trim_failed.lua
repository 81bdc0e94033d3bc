-- trim_failed: drop the oldest dead letters beyond max_failed (0: no limit),
-- at most limit of them, so one call never grows with a lowered max_failed.
-- Returns how many went. Needs drop_failed.
local function trim_failed(failed, tasks, indexes, max_failed, limit)
  if max_failed <= 0 then return 0 end
  local excess = math.min(redis.call('ZCARD', failed) - max_failed, limit)
  if excess <= 0 then return 0 end
  return drop_failed(failed, tasks, indexes, redis.call('ZRANGE', failed, 0, excess - 1))
end
