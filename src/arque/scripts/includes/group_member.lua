-- group_member: the member of grouped that stands for task id of group at
-- priority, enqueue sequence seq: '<group>\0<1000 - priority>\0<seq>\0<id>',
-- so that ZRANGEBYLEX gives a group's tasks by priority, then age.
local function group_member(group, priority, seq, id)
  return group .. '\0' .. string.format('%04d', 1000 - priority) .. '\0' .. string.format('%015.0f', seq) .. '\0' .. id
end
