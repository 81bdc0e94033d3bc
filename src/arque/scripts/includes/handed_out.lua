-- handed_out: a working task's attempt and hand-out time, folded into its
-- metadata from its current delivery token ('<attempt>-<seconds><6-digit µs>',
-- made by dequeue). dequeue leaves the task's record as it was (rewriting it
-- would copy the payload), so while a task is working these two live in its
-- token; the scripts that take it out of working write them into the record.
local function handed_out(meta, token)
  if not token then return meta end
  local attempt, stamp = string.match(token, '^(%d+)%-(%d+)$')
  if attempt then
    meta['a'] = tonumber(attempt)
    meta['d'] = math.floor(tonumber(stamp) / 1000)
  end
  return meta
end
