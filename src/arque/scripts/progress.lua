-- progress: keep what a running handler reports of its progress, fenced by
-- its delivery token (a late holder cannot overwrite the current one's).
-- KEYS[1] leases      HASH  id -> delivery token
-- KEYS[2] tasks       HASH  id -> '<metadata JSON>\n<payload>' (includes/record.lua)
-- KEYS[3] cancelling  SET   working ids asked to stop
-- ARGV[1] task_id
-- ARGV[2] token     '' acts on the current hand-out
-- ARGV[3] progress  JSON text, kept as it is (size checked by the caller)
-- returns 1 kept, 0 refused (not working, or a stale hand-out), -1 kept but the
-- task is being cancelled (its handler should stop)
--@include record
--@include ensure_types
--@include holds_lease
local leases, tasks, cancelling = KEYS[1], KEYS[2], KEYS[3]
local err = ensure_types({leases, 'hash', tasks, 'hash', cancelling, 'set'})
if err then return err end

local id, token = ARGV[1], ARGV[2]
if not holds_lease(leases, id, token) then return 0 end
local raw = redis.call('HGET', tasks, id)
local meta = cjson.decode(record_meta(raw))
-- Kept as text inside the metadata: it comes back exactly as it was sent.
meta['pr'] = ARGV[3]
redis.call('HSET', tasks, id, remeta(raw, cjson.encode(meta)))
if redis.call('SISMEMBER', cancelling, id) == 1 then return -1 end
return 1
