-- groups: the groups with work (ready or working), at most limit of them, with
-- their counts, in one atomic read. A group with ready tasks has a turn in the
-- round-robin, waits for its rate window, or is at group_limit (so working).
-- KEYS[1] grouped        ZSET  ready tasks of groups, '<group>\0<rank>\0<seq>\0<id>'
-- KEYS[2] groups         ZSET  the round-robin: group -> turn
-- KEYS[3] group_waits    ZSET  group held back by group_rate_limit -> ms it may start
-- KEYS[4] group_working  HASH  group -> working tasks
-- ARGV[1] limit  at most this many groups
-- returns {group, ready, working, held_until_ms (0: not held), ...}; the tasks
-- without a group ('' in the round-robin) are not listed
local grouped, groups, waits, working = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local limit = tonumber(ARGV[1])
local seen, names = {}, {}
local function add(group)
  if group ~= '' and not seen[group] and #names < limit then
    seen[group] = true
    names[#names + 1] = group
  end
end
for _, group in ipairs(redis.call('ZRANGE', groups, 0, limit - 1)) do add(group) end
for _, group in ipairs(redis.call('ZRANGE', waits, 0, limit - 1)) do add(group) end
-- One field per working group: bounded by the working tasks (working_limit).
local counts = redis.call('HGETALL', working)
for i = 1, #counts, 2 do add(counts[i]) end
local out = {}
for _, group in ipairs(names) do
  out[#out + 1] = group
  out[#out + 1] = redis.call('ZLEXCOUNT', grouped, '[' .. group .. '\0', '(' .. group .. '\1')
  out[#out + 1] = tonumber(redis.call('HGET', working, group)) or 0
  out[#out + 1] = tonumber(redis.call('ZSCORE', waits, group)) or 0
end
return out
