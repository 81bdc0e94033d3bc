-- promote_due: make ready up to limit delayed tasks whose due time has come,
-- oldest due first, each by its priority and group (a plain one straight to
-- pending). Returns how many moved. Needs record and make_ready.
local function promote_due(delayed, pending, S, tasks, now, limit)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', now, 'LIMIT', 0, limit)
  if #due == 0 then return 0 end
  local raws = redis.call('HMGET', tasks, unpack(due))
  -- The plain ones go to pending in one LPUSH, in due order, as one LPUSH each would.
  local plain = {}
  for j, id in ipairs(due) do
    local raw = raws[j]
    local meta_json = raw and record_meta(raw)
    if meta_json and (string.find(meta_json, '"p":', 1, true) or string.find(meta_json, '"g":', 1, true)) then
      local meta = cjson.decode(meta_json)
      make_ready(pending, S, id, meta, false)
      redis.call('HSET', tasks, id, remeta(raw, cjson.encode(meta)))
    else
      plain[#plain + 1] = id
    end
  end
  if #plain > 0 then redis.call('LPUSH', pending, unpack(plain)) end
  redis.call('ZREMRANGEBYRANK', delayed, 0, #due - 1)
  return #due
end
