-- group_failed: count the newest dead letters by reason and error (its first line),
-- for the dashboard's grouped view; one atomic read of a bounded sample.
-- KEYS[1] failed  ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks   HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- ARGV[1] sample  look at this many of the newest dead letters
-- returns {looked, then 4 per group: reason, error_first_line, count, newest_id}
--          (groups in order of their newest dead letter)
--@include record
local failed, tasks = KEYS[1], KEYS[2]
local ids = redis.call('ZREVRANGE', failed, 0, tonumber(ARGV[1]) - 1)
local out = {#ids}
if #ids == 0 then return out end
local groups, order = {}, {}
for start = 1, #ids, 500 do
  local part = {}
  for i = start, math.min(start + 499, #ids) do part[#part + 1] = ids[i] end
  local metas = redis.call('HMGET', tasks, unpack(part))
  for j, raw in ipairs(metas) do
    if raw then
      local meta = cjson.decode(record_meta(raw))
      local err = meta['err']
      if type(err) ~= 'string' then err = '' end
      local line = string.sub(string.match(err, '[^\n]*'), 1, 200)
      local reason = tostring(meta['why'] or '')
      local key = reason .. '\0' .. line
      local group = groups[key]
      if not group then
        group = {reason, line, 0, part[j]}
        groups[key] = group
        order[#order + 1] = group
      end
      group[3] = group[3] + 1
    end
  end
end
for _, group in ipairs(order) do
  for _, v in ipairs(group) do out[#out + 1] = v end
end
return out
