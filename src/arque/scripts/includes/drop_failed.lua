-- drop_failed: delete dead letters (at most a chunk of ids) for good: out of
-- the failed set and every index, with their records (metadata and payload).
-- Needs unindex_failed.
local function drop_failed(failed, tasks, indexes, ids)
  if #ids == 0 then return 0 end
  redis.call('ZREM', failed, unpack(ids))
  redis.call('HDEL', tasks, unpack(ids))
  unindex_failed(indexes, ids)
  return #ids
end
