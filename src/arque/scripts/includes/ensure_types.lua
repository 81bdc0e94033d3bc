-- ensure_types: check every key a script may write before it writes anything.
-- specs is a flat list {key, type, key, type, ...}; returns an error reply for
-- the first key that exists with another type, else nil.
local function ensure_types(specs)
  for i = 1, #specs, 2 do
    local found = redis.call('TYPE', specs[i])['ok']
    if found ~= 'none' and found ~= specs[i + 1] then
      return redis.error_reply('ARQUE_WRONGTYPE ' .. specs[i] .. ' ' .. found .. ' ' .. specs[i + 1])
    end
  end
  return nil
end
