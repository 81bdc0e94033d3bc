-- ensure_types: check every key a script may write before it writes anything.
-- specs is a flat list {key, type, key, type, ...}; returns an error reply for
-- the first key that exists with another type, else nil and the set of the keys
-- found (present[key] == true): a caller may skip reading a key it knows is absent.
-- One EXISTS counts the keys that exist; TYPE is asked only until that many
-- have been found, so the keys of features not in use (and callers list the
-- keys that usually exist first) cost one command between them.
local function ensure_types(specs)
  local keys = {}
  for i = 1, #specs, 2 do keys[#keys + 1] = specs[i] end
  local left = redis.call('EXISTS', unpack(keys))
  local present = {}
  local i = 1
  while left > 0 do
    local found = redis.call('TYPE', specs[i])['ok']
    if found ~= 'none' then
      if found ~= specs[i + 1] then
        return redis.error_reply('ARQUE_WRONGTYPE ' .. specs[i] .. ' ' .. found .. ' ' .. specs[i + 1])
      end
      present[specs[i]] = true
      left = left - 1
    end
    i = i + 2
  end
  return nil, present
end
