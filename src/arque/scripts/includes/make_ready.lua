-- make_ready: put a task (out of every other state) among the ready ones by
-- its priority meta.p and group meta.g: a plain task on the pending list (at
-- its head when head: a recovered task has waited already); another task
-- without a group in prioritized, scored (1000 - priority) * 2^40 + seq; a
-- grouped one in grouped as '<group>\0<1000 - priority>\0<seq>\0<id>', its
-- group joining the round-robin when it had nothing ready. meta.s keeps seq
-- (a recovered task keeps its place); the caller writes meta back.
-- Needs group_head, add_turn, group_member.
local function make_ready(pending, S, id, meta, head)
  local priority, group = meta['p'] or 0, meta['g']
  if priority == 0 and group == nil then
    if head then redis.call('RPUSH', pending, id) else redis.call('LPUSH', pending, id) end
    return
  end
  if not (head and meta['s']) then meta['s'] = redis.call('INCR', S.seq) end
  if group == nil then
    redis.call('ZADD', S.prioritized, string.format('%.0f', (1000 - priority) * 1099511627776 + meta['s']), id)
    return
  end
  local had = group_head(S.grouped, group)
  redis.call('ZADD', S.grouped, 0, group_member(group, priority, meta['s'], id))
  if not had then add_turn(S, group) end
end
