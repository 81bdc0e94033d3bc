-- holds_lease: whether token names the current hand-out of a working task
-- ('' names whatever hand-out is current: an operator's act).
local function holds_lease(leases, id, token)
  local current = redis.call('HGET', leases, id)
  return current ~= false and (token == '' or token == current)
end
