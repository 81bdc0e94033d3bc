-- stats: count the tasks in each state, in one atomic read.
-- KEYS[1] pending  LIST  ids ready to hand out
-- KEYS[2] delayed  ZSET  id -> due time (ms)
-- KEYS[3] working  ZSET  id -> lease deadline (ms)
-- KEYS[4] failed   ZSET  id -> dead-letter time (ms)
-- ARGV none
-- returns {pending, delayed, working, failed}
return {redis.call('LLEN', KEYS[1]), redis.call('ZCARD', KEYS[2]),
        redis.call('ZCARD', KEYS[3]), redis.call('ZCARD', KEYS[4])}
