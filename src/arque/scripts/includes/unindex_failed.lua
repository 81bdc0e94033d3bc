-- unindex_failed: take ids (at most a chunk) out of every per-reason index.
-- One ZREM per index, whatever reason each id has: no metadata to read.
local function unindex_failed(indexes, ids)
  if #ids == 0 then return end
  for _, index in pairs(indexes) do redis.call('ZREM', index, unpack(ids)) end
end
