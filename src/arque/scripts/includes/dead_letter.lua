-- dead_letter: move a task (already out of pending, delayed and working) to
-- the failed set with its reason and last error, then keep the set within
-- max_failed entries by dropping the oldest records with their payloads.
local function dead_letter(failed, tasks, payloads, id, meta, reason, err, now, max_failed)
  meta['why'] = reason
  if err ~= nil and err ~= '' then meta['err'] = err end
  meta['f'] = now
  redis.call('HSET', tasks, id, cjson.encode(meta))
  redis.call('ZADD', failed, now, id)
  if max_failed > 0 then
    local excess = redis.call('ZCARD', failed) - max_failed
    if excess > 0 then
      local old = redis.call('ZRANGE', failed, 0, excess - 1)
      for _, old_id in ipairs(old) do
        redis.call('HDEL', tasks, old_id)
        redis.call('HDEL', payloads, old_id)
      end
      redis.call('ZREMRANGEBYRANK', failed, 0, excess - 1)
    end
  end
end
