-- stats: count the tasks in each state, in one atomic read.
-- KEYS[1] pending  LIST  ids ready to hand out
-- KEYS[2] delayed  ZSET  id -> due time (ms)
-- KEYS[3] working  ZSET  id -> lease deadline (ms)
-- KEYS[4] failed   ZSET  id -> dead-letter time (ms)
-- KEYS[5] prioritized    ZSET  ready ids without a group, priority != 0
-- KEYS[6] grouped        ZSET  ready tasks of groups
-- ARGV none
-- returns {pending (all ready tasks), delayed, working, failed, prioritized, grouped}
local prioritized, grouped = redis.call('ZCARD', KEYS[5]), redis.call('ZCARD', KEYS[6])
return {redis.call('LLEN', KEYS[1]) + prioritized + grouped, redis.call('ZCARD', KEYS[2]),
        redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4]), prioritized, grouped}
