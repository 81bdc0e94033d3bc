-- pick_failed: the dead letters a replay or purge acts on: the one named
-- (when it is a dead letter), else the oldest up to limit, of reason (from
-- its index) unless reason is ''.
local function pick_failed(failed, indexes, id, reason, limit)
  if id ~= '' then
    if redis.call('ZSCORE', failed, id) then return {id} end
    return {}
  end
  if reason ~= '' then return redis.call('ZRANGE', indexes[reason], 0, limit - 1) end
  return redis.call('ZRANGE', failed, 0, limit - 1)
end
