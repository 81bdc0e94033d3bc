-- schedule_list: every schedule of the queue with its payload, in one atomic read.
-- KEYS[1] schedules          HASH  name -> schedule definition (JSON)
-- KEYS[2] schedule_payloads  HASH  name -> the payload of its tasks
-- ARGV none
-- returns {name, definition, payload, name, definition, payload, ...}
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  out[#out + 1] = all[i]
  out[#out + 1] = all[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], all[i])
end
return out
