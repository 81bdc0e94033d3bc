-- add_turn: group (a name, or '' for the tasks without one) takes a turn at the
-- end of the round-robin, unless it has one already or waits for its rate window.
local function add_turn(S, group)
  if redis.call('ZSCORE', S.group_waits, group) then return end
  local last = redis.call('ZRANGE', S.groups, -1, -1, 'WITHSCORES')[2]
  redis.call('ZADD', S.groups, 'NX', (tonumber(last) or 0) + 1, group)
end
