-- inspect: read one task whole, in one atomic read.
-- KEYS[1] tasks     HASH  id -> metadata JSON
-- KEYS[2] payloads  HASH  id -> payload
-- KEYS[3] working   ZSET  id -> lease deadline (ms)
-- KEYS[4] delayed   ZSET  id -> due time (ms)
-- KEYS[5] failed    ZSET  id -> dead-letter time (ms)
-- ARGV[1] task_id
-- returns {metadata or nil, state ('pending', 'delayed', 'working', 'failed'), payload or nil}
local meta = redis.call('HGET', KEYS[1], ARGV[1])
if not meta then return {false, false, false} end
local state = 'pending'
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then state = 'working'
elseif redis.call('ZSCORE', KEYS[4], ARGV[1]) then state = 'delayed'
elseif redis.call('ZSCORE', KEYS[5], ARGV[1]) then state = 'failed' end
return {meta, state, redis.call('HGET', KEYS[2], ARGV[1])}
