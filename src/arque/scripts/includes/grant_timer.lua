-- grant_timer: how long until the next delayed task is due (microseconds, -1:
-- none) and whether the caller now keeps the time (1) or another consumer
-- does (0). time is the TIME pair the script read; also (ms, or nil) is a
-- time that counts as due too: when a rate window admits the next start.
-- One consumer in all keeps the time: it alone arms a timer that raises the
-- marker at the due time, so a due task wakes one idle consumer, not each.
-- A grant lasts until its due time (the key expires 100 ms after, or goes when
-- no task is delayed): a keeper that dies costs the others their bounded
-- block, nothing more.
local function grant_timer(delayed, timer, time, also)
  local head = redis.call('ZRANGE', delayed, 0, 0, 'WITHSCORES')
  local due = tonumber(head[2])
  -- also: another time (ms) a held-back caller waits for (a rate window), or nil.
  if also and (not due or also < due) then due = also end
  if not due then
    redis.call('DEL', timer)  -- a drained queue keeps no key
    return -1, 0
  end
  -- In microseconds: a timer set from whole milliseconds is up to 1 ms off.
  local wait = due * 1000 - (tonumber(time[1]) * 1000000 + tonumber(time[2]))
  if wait <= 0 then return 0, 0 end
  local now = due - math.ceil(wait / 1000)
  local held = tonumber(redis.call('GET', timer))
  -- Kept already for this time or earlier (a wake-up that comes early is harmless).
  if held and held > now and held <= due then return wait, 0 end
  redis.call('SET', timer, string.format('%d', due), 'PX', string.format('%d', due - now + 100))
  return wait, 1
end
