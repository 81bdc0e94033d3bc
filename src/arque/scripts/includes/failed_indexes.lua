-- failed_indexes: the per-reason dead-letter indexes, by reason. Their keys
-- come in KEYS[first], KEYS[first + 1], ... in this order, which is the order
-- of DeadReason (a test checks it).
local function failed_indexes(first)
  local reasons = {'retries_exhausted', 'lease_expired', 'poison_pill', 'undecodable', 'rejected',
    'cancelled'}
  local indexes = {}
  for i, reason in ipairs(reasons) do indexes[reason] = KEYS[first + i - 1] end
  return indexes
end
