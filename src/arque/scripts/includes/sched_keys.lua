-- sched_keys: the keys of what runs next, by role. They come in KEYS[first],
-- KEYS[first + 1], ... in this order, which is keys.SCHED_ROLES (a test checks it).
local function sched_keys(first)
  -- One table constructor: a loop over the role names costs a script call ~1 µs more.
  return {prioritized = KEYS[first], grouped = KEYS[first + 1], groups = KEYS[first + 2],
    group_waits = KEYS[first + 3], group_working = KEYS[first + 4], seq = KEYS[first + 5],
    starts = KEYS[first + 6], group_starts = KEYS[first + 7], group_windows = KEYS[first + 8]}
end
