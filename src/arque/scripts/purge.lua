-- purge: delete dead letters for good, oldest first.
-- KEYS[1] failed    ZSET  id -> dead-letter time (ms)
-- KEYS[2] tasks     HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[3]  failed_retries_exhausted  ZSET  the dead letters of each reason:
-- KEYS[4]  failed_lease_expired      ZSET    id -> dead-letter time (ms),
-- KEYS[5]  failed_poison_pill        ZSET    in DeadReason order
-- KEYS[6]  failed_undecodable        ZSET
-- KEYS[7]  failed_rejected           ZSET
-- KEYS[8]  failed_cancelled          ZSET
-- ARGV[1] task_id   '' for the oldest dead letters, up to limit
-- ARGV[2] limit     at most this many per call
-- ARGV[3] reason    '' for any; else only the dead letters of this reason (from its index)
-- returns how many were deleted; an error reply ARQUE_BADREASON for an unknown reason
--@include ensure_types
--@include failed_indexes
--@include unindex_failed
--@include drop_failed
--@include pick_failed
local failed, tasks = KEYS[1], KEYS[2]
local err = ensure_types({failed, 'zset', tasks, 'hash',
  KEYS[3], 'zset', KEYS[4], 'zset', KEYS[5], 'zset', KEYS[6], 'zset', KEYS[7], 'zset', KEYS[8], 'zset'})
if err then return err end
local indexes = failed_indexes(3)
local reason = ARGV[3]
if reason ~= '' and not indexes[reason] then return redis.error_reply('ARQUE_BADREASON ' .. reason) end

local ids = pick_failed(failed, indexes, ARGV[1], reason, tonumber(ARGV[2]))
return drop_failed(failed, tasks, indexes, ids)
