-- dead_letter: move a task (already out of pending, delayed and working) to
-- the failed set and the index of its reason, with its reason and last error,
-- then trim the oldest beyond max_failed: two at most, so a backlog left by a
-- lowered max_failed shrinks a little with each new dead letter (and in
-- chunks in sweep) instead of in one long call. The task is no longer being
-- cancelled, and whoever awaits its result is told (life: see life_keys).
-- payload: the task's payload, kept in its record (see record).
-- Needs record, trim_failed and finished.
local function dead_letter(failed, indexes, tasks, id, meta, payload, reason, err, now, max_failed, life)
  meta['why'] = reason
  if err ~= nil and err ~= '' then meta['err'] = err end
  meta['f'] = now
  redis.call('HSET', tasks, id, join_record(cjson.encode(meta), payload))
  redis.call('ZADD', failed, now, id)
  redis.call('ZADD', indexes[reason], now, id)
  redis.call('SREM', life.cancelling, id)
  finished(life, id)
  trim_failed(failed, tasks, indexes, max_failed, 2)
end
