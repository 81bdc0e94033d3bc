-- ready_since: when a task last became ready to hand out (ms): enqueued ready
-- ('e'), due after a delay or backoff ('dt'), or put back by a requeue, a
-- recovery or a replay ('rt'); the latest of these.
local function ready_since(meta)
  return math.max(tonumber(meta['e']) or 0, tonumber(meta['dt']) or 0, tonumber(meta['rt']) or 0)
end
