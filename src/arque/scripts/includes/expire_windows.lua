-- expire_windows: groups whose group_rate_limit window admits a start again
-- take their turn, and the starts of groups idle for a whole window go; at
-- most limit of each per call. Needs group_head, add_turn.
local function expire_windows(S, now, limit)
  local due = redis.call('ZRANGEBYSCORE', S.group_waits, '-inf', now, 'LIMIT', 0, limit)
  for _, group in ipairs(due) do
    redis.call('ZREM', S.group_waits, group)
    if group_head(S.grouped, group) then add_turn(S, group) end
  end
  local idle = redis.call('ZRANGEBYSCORE', S.group_windows, '-inf', now, 'LIMIT', 0, limit)
  for _, group in ipairs(idle) do
    redis.call('ZREMRANGEBYLEX', S.group_starts, '[' .. group .. '\0', '(' .. group .. '\1')
    redis.call('ZREM', S.group_windows, group)
  end
end
