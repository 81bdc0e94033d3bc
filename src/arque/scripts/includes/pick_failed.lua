-- pick_failed: the dead letters a replay or purge acts on: the one named
-- (when it is a dead letter), or the oldest up to limit when id is ''.
local function pick_failed(failed, id, limit)
  if id == '' then return redis.call('ZRANGE', failed, 0, limit - 1) end
  if redis.call('ZSCORE', failed, id) then return {id} end
  return {}
end
