-- enqueue_one: add one task, ready now, without priority, group or trace context: a lone
-- producer's call (enqueue.lua takes every other case). Three keys, not enqueue's
-- thirteen: Redis's own work per call, which bounds a lone producer, is about a quarter
-- less (benchmarks/WHERE-THE-TIME-GOES.md).
-- KEYS[1] pending   LIST  ids ready to hand out
-- KEYS[2] tasks     HASH  id -> '<metadata>\n<payload>' (includes/record.lua)
-- KEYS[3] marker    ZSET  wake-up flag for idle consumers
-- ARGV[1] task_id, ARGV[2] payload, ARGV[3] timeout_ms
-- returns 1 if the task was added, 0 if its id was live (dead letters included)
--
-- Each write checks its own key: Redis refuses a write to a key of another type before
-- changing anything, and the writes made before a refusal are taken back, so nothing is
-- written then either.
--@include now_ms
--@include record
local pending, tasks, marker = KEYS[1], KEYS[2], KEYS[3]
local id = ARGV[1]

-- Its metadata kept compact, '[t,e]' (includes/record.lua).
local record = join_record(string.format('[%d,%d]', tonumber(ARGV[3]), now_ms()), ARGV[2])
local reply = redis.pcall('HSETNX', tasks, id, record)
if reply == 0 then return 0 end
local key, expected, command = tasks, 'hash', 'hsetnx'
if type(reply) ~= 'table' then
  key, expected, command = pending, 'list', 'lpush'
  reply = redis.pcall('LPUSH', pending, id)
  if type(reply) ~= 'table' then
    key, expected, command = marker, 'zset', 'zadd'
    reply = redis.pcall('ZADD', marker, 0, 'ready')
    if type(reply) ~= 'table' then return 1 end
    redis.call('LPOP', pending)
  end
  redis.call('HDEL', tasks, id)
end
-- Any other refusal (an ACL rule, OOM) as Redis gave it, the command named.
if not string.find(reply['err'], 'WRONGTYPE', 1, true) then
  return redis.error_reply(reply['err'] .. ' (' .. command .. ')')
end
return redis.error_reply('ARQUE_WRONGTYPE ' .. key .. ' ' .. redis.call('TYPE', key)['ok'] .. ' ' .. expected)
