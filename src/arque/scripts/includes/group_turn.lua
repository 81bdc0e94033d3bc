-- group_turn: the turn of group in the current round of the round-robin. Takes
-- its next task (up to want of them when it is the only group with a turn:
-- the same tasks as that many rounds, in one read) and sends the group to the
-- end of the round, unless the group is at group_limit (it leaves the round
-- until free_group_slot brings it back), or its group_rate_limit window is
-- full (it waits in group_waits until the window admits a start). R is the
-- round: group_limit, group_rate, group_window, now, stamp (unique to this
-- call), last (the last turn number), count[group] (working, read once per
-- round), and the writes it defers to the end of the round (one command per
-- key): drop (grouped members taken), moved (turn, group pairs), gone (groups
-- out of the turn). Each group comes once per round, so deferring them
-- changes nothing it reads.
-- Appends the ids taken to ids.
local function group_turn(S, group, R, ids, want)
  local prefix = group .. '\0'
  if R.group_rate > 0 then want = 1 end
  if R.group_limit > 0 then want = math.min(want, R.group_limit - R.count[group]) end
  -- The heads and whether another follows them, in one call.
  local heads = want > 0 and
    redis.call('ZRANGEBYLEX', S.grouped, '[' .. prefix, '(' .. group .. '\1', 'LIMIT', 0, want + 1) or {}
  if not heads[1] then
    R.gone[#R.gone + 1] = group
    return
  end
  local head = heads[1]
  if R.group_rate > 0 then
    -- Starts at or before now - window have left it.
    redis.call('ZREMRANGEBYLEX', S.group_starts, '[' .. prefix,
      '(' .. prefix .. string.format('%015.0f', R.now - R.group_window + 1))
    if redis.call('ZLEXCOUNT', S.group_starts, '[' .. prefix, '(' .. group .. '\1') >= R.group_rate then
      local oldest = redis.call('ZRANGEBYLEX', S.group_starts, '[' .. prefix, '(' .. group .. '\1', 'LIMIT', 0, 1)[1]
      local at = tonumber(string.sub(oldest, #prefix + 1, #prefix + 15)) + R.group_window
      R.gone[#R.gone + 1] = group
      redis.call('ZADD', S.group_waits, at, group)
      return
    end
    redis.call('ZADD', S.group_starts, 0, prefix .. string.format('%015.0f', R.now) .. '\0' .. R.stamp .. head)
    redis.call('ZADD', S.group_windows, R.now + R.group_window, group)
  end
  local taken = math.min(want, #heads)
  for k = 1, taken do
    local member = heads[k]
    R.drop[#R.drop + 1] = member
    -- The id follows the third NUL of the member.
    local _, stop = string.find(member, '\0', #prefix + 1, true)
    _, stop = string.find(member, '\0', stop + 1, true)
    ids[#ids + 1] = string.sub(member, stop + 1)
  end
  R.count[group] = R.count[group] + taken
  if heads[taken + 1] then
    R.last = R.last + 1
    R.moved[#R.moved + 1] = R.last
    R.moved[#R.moved + 1] = group
  else
    R.gone[#R.gone + 1] = group
  end
end
