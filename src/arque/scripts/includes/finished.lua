-- finished: a task left the queue (released, dead-lettered, cancelled). When
-- someone awaits its result, its id goes on the finished stream that waiters
-- block on (XREAD), capped so the stream stays small, and gone 10 minutes
-- after the last entry so an idle queue keeps no key; when nobody awaits it,
-- it costs one HDEL and writes nothing.
local function finished(life, id)
  if redis.call('HDEL', life.waiting, id) == 1 then
    redis.call('XADD', life.finished, 'MAXLEN', '~', 1000, '*', 'id', id)
    redis.call('PEXPIRE', life.finished, 600000)
  end
end
