-- queue_config: the settings the queue stores in its config hash, read with
-- one HMGET; a setting it does not store (or not as a number) takes the
-- caller's value, fallbacks[i]. Returns the values in the order of names.
-- config false: the caller knows the hash is absent (no command).
local function queue_config(config, names, fallbacks)
  local stored = config and redis.call('HMGET', config, unpack(names)) or {}
  local values = {}
  for i = 1, #names do values[i] = tonumber(stored[i]) or tonumber(fallbacks[i]) end
  return unpack(values)
end
