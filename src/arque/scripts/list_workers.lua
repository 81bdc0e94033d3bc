-- list_workers: the workers whose registration has not expired, in one atomic read.
-- KEYS[1] workers       ZSET  worker name -> registration expiry (ms)
-- KEYS[2] workers_info  HASH  worker name -> worker description (JSON)
-- ARGV[1] limit    at most this many workers
-- returns {now_ms, then 3 per worker: name, expires_ms, info}
--@include now_ms
local now = now_ms()
local out = {now}
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES',
                        'LIMIT', 0, tonumber(ARGV[1]))
for i = 1, #live, 2 do
  out[#out + 1] = live[i]
  out[#out + 1] = live[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], live[i])
end
return out
