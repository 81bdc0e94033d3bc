-- result: where the result of a task stands, in one atomic read; optionally
-- registers the caller as a waiter of a live task, so that the script that
-- ends the task tells it on the finished stream.
-- KEYS[1] tasks        HASH    id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[2] failed       ZSET    id -> dead-letter time (ms)
-- KEYS[3] results      HASH    id -> the handler's return value, encoded
-- KEYS[4] results_due  ZSET    id -> when its result expires (ms)
-- KEYS[5] waiting      HASH    id -> 1: someone awaits its result
-- KEYS[6] finished     STREAM  ids of awaited tasks that finished
-- ARGV[1] task_id
-- ARGV[2] wait  1: register as a waiter when the task is live
-- returns {status, a, b}:
--   'done', result            finished, its result kept and not expired
--   'failed', metadata, payload   a dead letter
--   'live', last_stream_id    still pending, delayed or working ('0-0': empty stream)
--   'unknown'                 no such task, released without a result, or expired
--@include now_ms
--@include record
--@include ensure_types
local tasks, failed, results, results_due = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local waiting, stream = KEYS[5], KEYS[6]
local err = ensure_types({waiting, 'hash', stream, 'stream'})
if err then return err end

local id = ARGV[1]
local raw = redis.call('HGET', tasks, id)
if raw then
  if redis.call('ZSCORE', failed, id) then
    local meta, payload = split_record(raw)
    return {'failed', meta, payload}
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
