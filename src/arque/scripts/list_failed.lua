-- list_failed: read a page of dead letters, newest first, in one atomic read.
-- KEYS[1] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks     HASH  id -> metadata JSON
-- KEYS[3] payloads  HASH  id -> payload
-- ARGV[1] offset    how many (matching) dead letters to skip
-- ARGV[2] limit     at most this many
-- ARGV[3] reason    '' for all; else only the dead letters of this reason
-- returns {id, metadata, payload, id, metadata, payload, ...}
local failed, tasks, payloads = KEYS[1], KEYS[2], KEYS[3]
local offset, limit, reason = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local out = {}
if reason == '' then
  local ids = redis.call('ZREVRANGE', failed, offset, offset + limit - 1)
  for _, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', tasks, id)
    out[#out + 1] = redis.call('HGET', payloads, id)
  end
  return out
end
-- Filtered: walk the set newest first in pages (it is bounded by max_failed).
local skipped, start, page = 0, 0, 500
while #out < limit * 3 do
  local ids = redis.call('ZREVRANGE', failed, start, start + page - 1)
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    local meta = redis.call('HGET', tasks, id)
    if meta and cjson.decode(meta)['why'] == reason then
      if skipped < offset then
        skipped = skipped + 1
      elseif #out < limit * 3 then
        out[#out + 1] = id
        out[#out + 1] = meta
        out[#out + 1] = redis.call('HGET', payloads, id)
      end
    end
  end
  start = start + page
end
return out
