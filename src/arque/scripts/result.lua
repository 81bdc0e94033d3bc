-- result: where the result of a task stands, in one atomic read; optionally
-- registers the caller as a waiter of a live task, so that the script that
-- ends the task tells it on the finished stream.
-- KEYS[1] tasks        HASH    id -> metadata JSON
-- KEYS[2] payloads     HASH    id -> payload
-- KEYS[3] failed       ZSET    id -> dead-letter time (ms)
-- KEYS[4] results      HASH    id -> the handler's return value, encoded
-- KEYS[5] results_due  ZSET    id -> when its result expires (ms)
-- KEYS[6] waiting      HASH    id -> 1: someone awaits its result
-- KEYS[7] finished     STREAM  ids of awaited tasks that finished
-- ARGV[1] task_id
-- ARGV[2] wait  1: register as a waiter when the task is live
-- returns {status, a, b}:
--   'done', result            finished, its result kept and not expired
--   'failed', metadata, payload   a dead letter
--   'live', last_stream_id    still pending, delayed or working ('0-0': empty stream)
--   'unknown'                 no such task, released without a result, or expired
--@include now_ms
--@include ensure_types
local tasks, payloads, failed, results, results_due = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local waiting, stream = KEYS[6], KEYS[7]
local err = ensure_types({waiting, 'hash', stream, 'stream'})
if err then return err end

local id = ARGV[1]
local meta = redis.call('HGET', tasks, id)
if meta then
  if redis.call('ZSCORE', failed, id) then
    return {'failed', meta, redis.call('HGET', payloads, id)}
  end
  if ARGV[2] == '1' then redis.call('HSET', waiting, id, 1) end
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if last[1] then return {'live', last[1][1]} end
  return {'live', '0-0'}
end
local due = redis.call('ZSCORE', results_due, id)
if due and tonumber(due) > now_ms() then
  return {'done', redis.call('HGET', results, id)}
end
return {'unknown'}
