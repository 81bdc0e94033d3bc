-- schedule_remove: delete a schedule; a firing of it in flight then fails its
-- compare-and-set. Tasks it already enqueued stay.
-- KEYS[1] schedules          HASH  name -> schedule definition (JSON)
-- KEYS[2] schedules_due      ZSET  name -> next run (ms)
-- KEYS[3] schedule_payloads  HASH  name -> the payload of its tasks
-- ARGV[1] name
-- returns 1 removed, 0 no such schedule
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
