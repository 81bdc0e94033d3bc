-- free_group_slot: the lease of one working task, of group meta.g (if any),
-- came back: free_group_slots for it. Returns whether a group came back.
-- Needs free_group_slots.
local function free_group_slot(S, meta)
  if meta['g'] == nil then return false end
  return free_group_slots(S, {meta['g']}, {[meta['g']] = 1})
end
