-- meta_group: the group in a task's metadata JSON, or nil, read without
-- decoding the whole of it when the name needs no JSON escape.
local function meta_group(raw)
  if not string.find(raw, '"g":', 1, true) then return nil end
  local plain = string.match(raw, '"g":"([^"\\]*)"')
  if plain then return plain end
  return cjson.decode(raw)['g']
end
