-- free_group_slots: working tasks of groups gave their leases back (done,
-- requeued, dead-lettered, recovered, cancelled): names lists their groups in
-- the order they freed slots (the order held-back groups come back in), and
-- freed[group] is how many.
-- Their groups' working counts go down (no field at 0), and a group held back
-- at group_limit with tasks ready takes a turn again. Every script that frees
-- a lease calls it (or free_group_slot), so the counts stay exact. Returns
-- whether a group came back (a consumer may take its task).
-- Needs group_head, add_turn.
local function free_group_slots(S, names, freed)
  if #names == 0 then return false end
  local counts = redis.call('HMGET', S.group_working, unpack(names))
  -- Which of them have a turn already, in one call (ZMSCORE: Redis >= 6.2).
  local turns = redis.call('ZMSCORE', S.groups, unpack(names))
  local keep, gone, back = {}, {}, false
  for i, group in ipairs(names) do
    local left = (tonumber(counts[i]) or 0) - freed[group]
    if left > 0 then
      keep[#keep + 1] = group
      keep[#keep + 1] = left
    else
      gone[#gone + 1] = group
    end
    if not turns[i] and group_head(S.grouped, group) then
      add_turn(S, group)
      back = true
    end
  end
  if #keep > 0 then redis.call('HSET', S.group_working, unpack(keep)) end
  if #gone > 0 then redis.call('HDEL', S.group_working, unpack(gone)) end
  return back
end
