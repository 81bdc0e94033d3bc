-- promote_due: make ready up to limit delayed tasks whose due time has come,
-- oldest due first, each by its priority and group (a plain one straight to
-- pending). Returns how many moved. Needs make_ready.
local function promote_due(delayed, pending, S, tasks, now, limit)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, limit)
  if #due == 0 then return 0 end
  local raws = redis.call('HMGET', tasks, unpack(due))
  for j, id in ipairs(due) do
    local raw = raws[j]
    if raw and (string.find(raw, '"p":', 1, true) or string.find(raw, '"g":', 1, true)) then
      local meta = cjson.decode(raw)
      make_ready(pending, S, id, meta, false)
      redis.call('HSET', tasks, id, cjson.encode(meta))
    else
      redis.call('LPUSH', pending, id)
    end
  end
  redis.call('ZREMRANGEBYRANK', delayed, 0, #due - 1)
  return #due
end
