-- group_head: the member of grouped that comes next in group (its highest
-- priority, then its oldest), or nil when the group has nothing ready. Group
-- names hold no NUL, so '<group>\0' prefixes exactly the members of one group.
local function group_head(grouped, group)
  return redis.call('ZRANGEBYLEX', grouped, '[' .. group .. '\0', '(' .. group .. '\1', 'LIMIT', 0, 1)[1]
end
