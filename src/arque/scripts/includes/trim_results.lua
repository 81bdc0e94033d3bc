-- trim_results: drop the kept results beyond max_results (0: no limit), those
-- that expire first, at most limit of them. Returns how many went.
local function trim_results(results, results_due, max_results, limit)
  if max_results <= 0 then return 0 end
  local excess = math.min(redis.call('ZCARD', results_due) - max_results, limit)
  if excess <= 0 then return 0 end
  local ids = redis.call('ZRANGE', results_due, 0, excess - 1)
  redis.call('HDEL', results, unpack(ids))
  redis.call('ZREM', results_due, unpack(ids))
  return #ids
end
