-- search_failed: find dead letters, newest first, looking at a bounded number per
-- call, and group the errors of the ones looked at; one atomic read.
-- KEYS[1] failed  ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks   HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[3]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[4]  failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[5]  failed_poison_pill        ZSET    in DeadReason order
-- KEYS[6]  failed_undecodable        ZSET
-- KEYS[7]  failed_rejected           ZSET
-- KEYS[8]  failed_cancelled          ZSET
-- ARGV[1] cursor  rank (newest first) to start from
-- ARGV[2] limit   at most this many matches
-- ARGV[3] scan    look at most at this many dead letters
-- ARGV[4] id      '' for any; else only the dead letter of this id
-- ARGV[5] reason  '' for any; else only this reason (walks its index; unknown: no match)
-- ARGV[6] text    '' for any; else only errors or ids containing it (plain, case-sensitive)
-- returns {total, next_cursor (0: searched to the end), matches, then 4 per match:
--          id, failed_at_ms, metadata, error_group} where error_group is the error's first line
--          (total: of the set walked, all dead letters or those of the reason)
--@include failed_indexes
--@include record
local failed, tasks = KEYS[1], KEYS[2]
local cursor, limit, scan = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local want_id, reason, needle = ARGV[4], ARGV[5], ARGV[6]
if reason ~= '' then
  failed = failed_indexes(3)[reason]
  if not failed then return {0, 0, 0} end
end
local total = redis.call('ZCARD', failed)

local function group_of(err)
  if not err or err == '' then return '' end
  return string.sub(string.match(err, '[^\n]*'), 1, 200)
end

local out = {total, 0, 0}
if want_id ~= '' then
  local score = redis.call('ZSCORE', failed, want_id)
  local raw = score and redis.call('HGET', tasks, want_id)
  local meta = raw and record_meta(raw)
  if meta and (reason == '' or cjson.decode(meta)['why'] == reason) then
    out[3] = 1
    local decoded = cjson.decode(meta)
    out[4], out[5], out[6], out[7] = want_id, score, meta, group_of(decoded['err'])
  end
  return out
end

local matches, looked, rank = 0, 0, cursor
while matches < limit and looked < scan do
  local chunk = math.min(200, scan - looked)
  local ids = redis.call('ZREVRANGE', failed, rank, rank + chunk - 1, 'WITHSCORES')
  if #ids == 0 then rank = 0; break end
  local metas = {}
  local only = {}
  for i = 1, #ids, 2 do only[#only + 1] = ids[i] end
  metas = redis.call('HMGET', tasks, unpack(only))
  for j, id in ipairs(only) do
    rank = rank + 1
    looked = looked + 1
    local meta = metas[j] and record_meta(metas[j])
    if meta then
      local decoded = cjson.decode(meta)
      local err = decoded['err']
      if type(err) ~= 'string' then err = '' end
      local ok = true
      if needle ~= '' then
        ok = string.find(err, needle, 1, true) ~= nil or string.find(id, needle, 1, true) ~= nil
      end
      if ok then
        matches = matches + 1
        out[#out + 1] = id
        out[#out + 1] = ids[j * 2]
        out[#out + 1] = meta
        out[#out + 1] = group_of(err)
        if matches >= limit then break end
      end
    end
  end
  if #only < chunk then
    if rank >= total then rank = 0 end
    break
  end
end
if rank >= total then rank = 0 end
out[2] = rank
out[3] = matches
return out
