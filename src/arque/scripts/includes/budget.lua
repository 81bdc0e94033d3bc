-- budget: a call that works through a batch (enqueue, dequeue, release) stops
-- once it has used BUDGET_US of the server's time, and says how far it got;
-- the caller sends the rest in another call. No call holds the server for
-- long, whatever the batch, its payloads or the machine: TIME advances
-- within a script (Redis >= 5 replicates a script's effects, not the script).
-- The first task of a call is always done, so every call makes progress.
local BUDGET_US = 500
-- clock_us(time): the server's clock in microseconds; time: a TIME reply
-- already read (now_ms's second value), else TIME is read now.
local function clock_us(time)
  time = time or redis.call('TIME')
  return tonumber(time[1]) * 1000000 + tonumber(time[2])
end
