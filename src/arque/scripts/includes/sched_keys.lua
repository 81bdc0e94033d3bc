-- sched_keys: the keys of what runs next, by role. They come in KEYS[first],
-- KEYS[first + 1], ... in this order, which is keys.SCHED_ROLES (a test checks it).
local function sched_keys(first)
  local roles = {'prioritized', 'grouped', 'groups', 'group_waits', 'group_working', 'seq',
    'starts', 'group_starts', 'group_windows'}
  local keys = {}
  for i, role in ipairs(roles) do keys[role] = KEYS[first + i - 1] end
  return keys
end
