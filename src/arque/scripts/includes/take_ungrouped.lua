-- take_ungrouped: take up to n ready tasks without a group, in order:
-- priority > 0 (highest first), then the plain pending list, then priority < 0.
-- Each priority keeps enqueue order. Returns their ids. no_prioritized: the
-- caller knows the prioritized key is absent (one command fewer).
local function take_ungrouped(pending, S, n, no_prioritized)
  local ids = {}
  -- Scores below 1000 * 2^40 are the priorities above 0.
  local high, low = nil, nil
  if not no_prioritized and redis.call('EXISTS', S.prioritized) == 1 then
    high = redis.call('ZRANGEBYSCORE', S.prioritized, '-inf', '(1099511627776000', 'LIMIT', 0, n)
    for _, id in ipairs(high) do ids[#ids + 1] = id end
  end
  if #ids < n then
    local plain = redis.call('RPOP', pending, n - #ids)
    if plain then for _, id in ipairs(plain) do ids[#ids + 1] = id end end
  end
  if #ids < n and high then
    low = redis.call('ZRANGE', S.prioritized, #high, #high + n - #ids - 1)
    for _, id in ipairs(low) do ids[#ids + 1] = id end
  end
  if high and #high > 0 then redis.call('ZREM', S.prioritized, unpack(high)) end
  if low and #low > 0 then redis.call('ZREM', S.prioritized, unpack(low)) end
  return ids
end
