-- promote_due: move up to limit delayed tasks whose due time has come to the
-- pending list, oldest due first. Returns how many moved.
local function promote_due(delayed, pending, now, limit)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, limit)
  for _, id in ipairs(due) do
    redis.call('LPUSH', pending, id)
  end
  if #due > 0 then
    redis.call('ZREMRANGEBYRANK', delayed, 0, #due - 1)
  end
  return #due
end
