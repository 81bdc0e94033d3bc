-- life_keys: the keys of a task's life beyond its state, which come in
-- KEYS[first], KEYS[first + 1], KEYS[first + 2]: the working ids asked to stop
-- (SET), the ids whose result someone awaits (HASH), and the stream that tells
-- those waiters a task finished.
local function life_keys(first)
  return {cancelling = KEYS[first], waiting = KEYS[first + 1], finished = KEYS[first + 2]}
end
