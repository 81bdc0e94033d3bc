-- inspect: read one task whole, in one atomic read.
-- KEYS[1] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[2] working   ZSET  id -> lease deadline (ms)
-- KEYS[3] delayed   ZSET  id -> due time (ms)
-- KEYS[4] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[5] leases    HASH  id -> delivery token (a working task's attempt and hand-out time)
-- ARGV[1] task_id
-- returns {metadata or nil, state ('pending', 'delayed', 'working', 'failed'), payload or nil}
--@include record
--@include handed_out
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {false, false, false} end
local meta, payload = split_record(raw)
local state = 'pending'
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  state = 'working'
  meta = cjson.encode(handed_out(cjson.decode(meta), redis.call('HGET', KEYS[5], ARGV[1])))
elseif redis.call('ZSCORE', KEYS[3], ARGV[1]) then state = 'delayed'
elseif redis.call('ZSCORE', KEYS[4], ARGV[1]) then state = 'failed' end
return {meta, state, payload}
